// Errors of the PKI layer: certificates, chains and identity directories.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::pki {

enum class PkiErrc {
  bad_certificate,  // not a parsable X.509 certificate (PEM or DER)
  bad_chain,        // a chain that does not lead to the trusted root, or breaks a rule
  bad_identity,     // an identity directory that is incomplete or inconsistent
  already_exists,   // refusing to overwrite an identity directory
};

constexpr std::string_view error_module_name(PkiErrc) {
  return "pki";
}
std::string_view error_code_name(PkiErrc code);

using PkiError = ModuleError<PkiErrc>;

}  // namespace cvmsim::pki
