// Errors of the crypto layer.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::crypto {

enum class CryptoErrc {
  unknown_suite,   // a suite name or id that is neither sm nor nist
  suite_mismatch,  // a key or artifact of one suite used with the other
  bad_key,         // a key that cannot be parsed or has the wrong type/size
  bad_signature,   // a signature that does not verify
  unwrap_failed,   // a wrapped secret that does not decrypt/authenticate
  bad_length,      // an input length the algorithm cannot take (e.g. XTS < 16 bytes)
  library,         // OpenSSL reported an internal failure
};

constexpr std::string_view error_module_name(CryptoErrc) {
  return "crypto";
}
std::string_view error_code_name(CryptoErrc code);

using CryptoError = ModuleError<CryptoErrc>;

// Throws CryptoError{library} with OpenSSL's queued error text appended to `what`.
[[noreturn]] void throw_openssl(std::string_view what);

}  // namespace cvmsim::crypto
