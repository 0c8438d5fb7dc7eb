// Errors of the attestation layer.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::attest {

enum class AttestErrc {
  bad_report,  // malformed report (magic, version, sizes, enum values)
  bad_policy,  // an appraisal policy file that is not the documented JSON
};

constexpr std::string_view error_module_name(AttestErrc) {
  return "attest";
}
std::string_view error_code_name(AttestErrc code);

using AttestError = ModuleError<AttestErrc>;

}  // namespace cvmsim::attest
