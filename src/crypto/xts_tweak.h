// The XTS tweak step of IEEE 1619: T_{j+1} = T_j * alpha in GF(2^128), on the tweak's
// little-endian bytes with reduction polynomial x^128 + x^7 + x^2 + x + 1 (0x87). Shared by
// the bulk driver and the OpenSSL-based reference; the known-answer tests in tests/crypto
// check both.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace cvmsim::crypto {

inline void multiply_by_alpha(std::array<std::uint8_t, 16>& t) {
  const std::uint8_t carry = t[15] >> 7;
  for (std::size_t i = 15; i > 0; --i) {
    t[i] = static_cast<std::uint8_t>((t[i] << 1) | (t[i - 1] >> 7));
  }
  t[0] = static_cast<std::uint8_t>((t[0] << 1) ^ (carry != 0 ? 0x87 : 0));
}

}  // namespace cvmsim::crypto
