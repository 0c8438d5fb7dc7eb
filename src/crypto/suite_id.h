// The two crypto suites. The numeric values appear in binary formats (docs/formats.md).
#pragma once

#include <cstdint>
#include <string_view>

namespace cvmsim::crypto {

enum class SuiteId : std::uint8_t {
  sm = 1,    // SM2 (signatures, key wrapping), SM3, SM4-XTS
  nist = 2,  // ECDSA P-384, ECIES P-384 + HKDF-SHA384 + AES-256-GCM, SHA-384, AES-256-XTS
};

std::string_view to_string(SuiteId id);
// Parses "sm" or "nist"; throws CryptoError{unknown_suite} naming the text.
SuiteId parse_suite(std::string_view text);
// Validates a suite byte read from a file; throws CryptoError{unknown_suite} naming `where`.
SuiteId suite_from_byte(std::uint8_t value, std::string_view where);

}  // namespace cvmsim::crypto
