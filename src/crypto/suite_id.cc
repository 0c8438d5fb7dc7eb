#include "crypto/suite_id.h"

#include <fmt/format.h>

#include "crypto/crypto_error.h"

namespace cvmsim::crypto {

std::string_view to_string(SuiteId id) {
  switch (id) {
    case SuiteId::sm:
      return "sm";
    case SuiteId::nist:
      return "nist";
  }
  return "unknown";
}

SuiteId parse_suite(std::string_view text) {
  if (text == "sm") return SuiteId::sm;
  if (text == "nist") return SuiteId::nist;
  throw CryptoError(CryptoErrc::unknown_suite,
                    fmt::format("unknown crypto suite '{}': expected 'sm' or 'nist'", text));
}

SuiteId suite_from_byte(std::uint8_t value, std::string_view where) {
  if (value == static_cast<std::uint8_t>(SuiteId::sm)) return SuiteId::sm;
  if (value == static_cast<std::uint8_t>(SuiteId::nist)) return SuiteId::nist;
  throw CryptoError(CryptoErrc::unknown_suite,
                    fmt::format("{}: suite byte {} is neither 1 (sm) nor 2 (nist)", where, value));
}

}  // namespace cvmsim::crypto
