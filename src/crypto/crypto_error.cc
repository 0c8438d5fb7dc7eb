#include "crypto/crypto_error.h"

#include <openssl/err.h>

#include <string>

#include "crypto/openssl_ptr.h"

namespace cvmsim::crypto {

std::string_view error_code_name(CryptoErrc code) {
  switch (code) {
    case CryptoErrc::unknown_suite:
      return "unknown_suite";
    case CryptoErrc::suite_mismatch:
      return "suite_mismatch";
    case CryptoErrc::bad_key:
      return "bad_key";
    case CryptoErrc::bad_signature:
      return "bad_signature";
    case CryptoErrc::unwrap_failed:
      return "unwrap_failed";
    case CryptoErrc::bad_length:
      return "bad_length";
    case CryptoErrc::library:
      return "library";
  }
  return "unknown";
}

void throw_openssl(std::string_view what) {
  std::string message(what);
  unsigned long err = 0;
  while ((err = ERR_get_error()) != 0) {
    char buffer[256];
    ERR_error_string_n(err, buffer, sizeof buffer);
    message += ": ";
    message += buffer;
  }
  throw CryptoError(CryptoErrc::library, message);
}

namespace detail {
void check(int ok, const char* what) {
  if (ok != 1) throw_openssl(what);
}
}  // namespace detail

}  // namespace cvmsim::crypto
