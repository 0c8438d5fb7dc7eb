#include "common/common_error.h"

namespace cvmsim {

std::string_view error_code_name(CommonErrc code) {
  switch (code) {
    case CommonErrc::io:
      return "io";
    case CommonErrc::too_large:
      return "too_large";
    case CommonErrc::bad_encoding:
      return "bad_encoding";
    case CommonErrc::overflow:
      return "overflow";
  }
  return "unknown";
}

}  // namespace cvmsim
