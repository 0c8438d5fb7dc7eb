// Errors of the trace tools: reading a trace file back, and what is derived from it.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::trace {

enum class TraceErrc {
  io,              // the trace file cannot be read (missing, not a regular file, OS error)
  too_large,       // the trace file exceeds the reader's size limit
  malformed,       // not JSON, not a cvmsim trace, or an event with a missing/mistyped field
  invalid_option,  // a rendering option out of range (e.g. zero rows)
};

constexpr std::string_view error_module_name(TraceErrc) {
  return "trace";
}
std::string_view error_code_name(TraceErrc code);

using TraceError = ModuleError<TraceErrc>;

}  // namespace cvmsim::trace
