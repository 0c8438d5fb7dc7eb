#include "trace/trace_error.h"

namespace cvmsim::trace {

std::string_view error_code_name(TraceErrc code) {
  switch (code) {
    case TraceErrc::io:
      return "io";
    case TraceErrc::too_large:
      return "too_large";
    case TraceErrc::malformed:
      return "malformed";
    case TraceErrc::invalid_option:
      return "invalid_option";
  }
  return "unknown";
}

}  // namespace cvmsim::trace
