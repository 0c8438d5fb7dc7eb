#include "measure/measure_error.h"

namespace cvmsim::measure {

std::string_view error_code_name(MeasureErrc code) {
  switch (code) {
    case MeasureErrc::bad_policy:
      return "bad_policy";
    case MeasureErrc::bad_firmware:
      return "bad_firmware";
    case MeasureErrc::bad_reference:
      return "bad_reference";
    case MeasureErrc::bad_signature:
      return "bad_signature";
    case MeasureErrc::suite_mismatch:
      return "suite_mismatch";
  }
  return "unknown";
}

}  // namespace cvmsim::measure
