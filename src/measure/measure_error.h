// Errors of the measurement layer: launch digests, policies, reference measurements.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::measure {

enum class MeasureErrc {
  bad_policy,      // a policy string or word with unknown or contradictory settings
  bad_firmware,    // a firmware image that is empty, too large or cannot be placed
  bad_reference,   // a reference file that is malformed (magic, version, sizes)
  bad_signature,   // a reference whose provider signature does not verify
  suite_mismatch,  // a reference or key of the other suite
};

constexpr std::string_view error_module_name(MeasureErrc) {
  return "measure";
}
std::string_view error_code_name(MeasureErrc code);

using MeasureError = ModuleError<MeasureErrc>;

}  // namespace cvmsim::measure
