// Portable SM4 kernels: 32-bit T-tables (S-box and linear map L folded into four 1 KiB
// tables), four blocks in lockstep so that their table loads overlap.
//
// Table lookups indexed by secret data are not constant-time on CPUs with caches; this path
// exists for CPUs without AES-NI/GFNI and as the simplest cross-check of the vector paths.
#include <bit>
#include <cstddef>
#include <cstdint>

#include "crypto/sm4/sm4_constants.h"
#include "crypto/sm4/sm4_kernels.h"

namespace cvmsim::crypto::sm4 {
namespace {

// table[k][x] = L(S(x) << (24 - 8k)), L(b) = b ^ b<<<2 ^ b<<<10 ^ b<<<18 ^ b<<<24.
struct TTables {
  std::uint32_t table[4][256];
};
consteval TTables make_tables() {
  TTables t{};
  for (unsigned x = 0; x < 256; ++x) {
    for (int k = 0; k < 4; ++k) {
      const std::uint32_t b = std::uint32_t{kSbox[x]} << (24 - 8 * k);
      t.table[k][x] = b ^ std::rotl(b, 2) ^ std::rotl(b, 10) ^ std::rotl(b, 18) ^ std::rotl(b, 24);
    }
  }
  return t;
}
constexpr TTables kTables = make_tables();

std::uint32_t t_transform(std::uint32_t x) {
  return kTables.table[0][x >> 24] ^ kTables.table[1][(x >> 16) & 0xff] ^
         kTables.table[2][(x >> 8) & 0xff] ^ kTables.table[3][x & 0xff];
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// N blocks in lockstep; in/out may alias (all loads happen before any store).
template <std::size_t N>
void crypt_n(const std::uint32_t* rk, const std::uint8_t* in, std::uint8_t* out) {
  std::uint32_t x[N][4];
  for (std::size_t b = 0; b < N; ++b) {
    for (std::size_t w = 0; w < 4; ++w) x[b][w] = load_be32(in + 16 * b + 4 * w);
  }
  for (std::size_t r = 0; r < kRounds; r += 4) {
    for (std::size_t w = 0; w < 4; ++w) {  // the four words take turns being replaced
      for (std::size_t b = 0; b < N; ++b) {
        x[b][w] ^=
            t_transform(x[b][(w + 1) & 3] ^ x[b][(w + 2) & 3] ^ x[b][(w + 3) & 3] ^ rk[r + w]);
      }
    }
  }
  for (std::size_t b = 0; b < N; ++b) {
    for (std::size_t w = 0; w < 4; ++w) store_be32(out + 16 * b + 4 * w, x[b][3 - w]);
  }
}

void crypt_blocks(const std::uint32_t* rk, const std::uint8_t* in, std::uint8_t* out,
                  std::size_t blocks) {
  std::size_t i = 0;
  for (; i + 4 <= blocks; i += 4) crypt_n<4>(rk, in + 16 * i, out + 16 * i);
  for (; i < blocks; ++i) crypt_n<1>(rk, in + 16 * i, out + 16 * i);
}

void xor16(std::uint8_t* dst, const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  for (std::size_t i = 0; i < 16 * n; ++i) dst[i] = static_cast<std::uint8_t>(a[i] ^ b[i]);
}

void xts_crypt_blocks(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
                      std::uint8_t* out, std::size_t blocks) {
  std::uint8_t buffer[64];
  for (std::size_t i = 0; i < blocks; i += 4) {
    const std::size_t n = blocks - i < 4 ? blocks - i : 4;
    xor16(buffer, in + 16 * i, tweaks + 16 * i, n);
    if (n == 4) {
      crypt_n<4>(rk, buffer, buffer);
    } else {
      for (std::size_t b = 0; b < n; ++b) crypt_n<1>(rk, buffer + 16 * b, buffer + 16 * b);
    }
    xor16(out + 16 * i, buffer, tweaks + 16 * i, n);
  }
}

void make_tweaks(const std::uint8_t* t0, std::uint8_t* tweaks, std::size_t blocks) {
  // Little-endian halves: bit 127 falls off the top and comes back as x^7+x^2+x+1 (0x87).
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  for (int i = 7; i >= 0; --i) {
    lo = (lo << 8) | t0[i];
    hi = (hi << 8) | t0[8 + i];
  }
  for (std::size_t j = 0; j < blocks; ++j) {
    for (int i = 0; i < 8; ++i) {
      tweaks[16 * j + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(lo >> (8 * i));
      tweaks[16 * j + 8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (8 * i));
    }
    const std::uint64_t carry = hi >> 63;
    hi = (hi << 1) | (lo >> 63);
    lo = (lo << 1) ^ (carry * 0x87);
  }
}

}  // namespace

extern constinit const Kernels kPortableKernels = {&crypt_blocks, &xts_crypt_blocks, &make_tweaks};

}  // namespace cvmsim::crypto::sm4
