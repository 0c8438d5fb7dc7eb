// SM4 key expansion (GB/T 32907-2016 section 7.3), shared by every implementation.
#include <bit>
#include <cstdint>

#include "crypto/sm4/sm4_constants.h"
#include "crypto/sm4/sm4_kernels.h"

namespace cvmsim::crypto::sm4 {
namespace {

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

// T' = L'(tau(x)) with L'(b) = b ^ (b <<< 13) ^ (b <<< 23).
std::uint32_t key_t(std::uint32_t x) {
  std::uint32_t b = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    b |= std::uint32_t{kSbox[(x >> shift) & 0xff]} << shift;
  }
  return b ^ std::rotl(b, 13) ^ std::rotl(b, 23);
}

}  // namespace

void expand_key(const std::uint8_t* key16, KeySchedule& out) {
  std::uint32_t k[4];
  for (int i = 0; i < 4; ++i) k[i] = load_be32(key16 + 4 * i) ^ kFk[i];
  for (int i = 0; i < kRounds; ++i) {
    const std::uint32_t next = k[0] ^ key_t(k[1] ^ k[2] ^ k[3] ^ kCk.v[i]);
    k[0] = k[1];
    k[1] = k[2];
    k[2] = k[3];
    k[3] = next;
    out.encrypt[i] = next;
    out.decrypt[kRounds - 1 - i] = next;
  }
}

}  // namespace cvmsim::crypto::sm4
