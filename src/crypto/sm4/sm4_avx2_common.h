// The 256-bit SM4 kernels shared by the GFNI + AVX2 and AES-NI + AVX2 paths, which differ
// only in how they compute the S-box. Included only by those two translation units (both
// built with -mavx2); everything is in an unnamed namespace so that each gets its own copy
// and no vector code leaks into the rest of the program through inline functions.
//
// Same word-sliced layout as the AVX-512 kernel (see sm4_gfni_avx512.cc): four ymm
// registers hold 8 blocks; eight such sets (64 blocks) are interleaved per iteration. Without
// VPROLD and VPTERNLOG, byte rotations are VPSHUFB and <<<2 is two shifts.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/sm4/sm4_kernels.h"
#include "crypto/sm4/x86_intrinsics.h"

namespace cvmsim::crypto::sm4::avx2 {
namespace {

using V = __m256i;

constexpr std::size_t kSetBlocks = 8;  // four ymm registers
// Sets interleaved in the main loop (64 blocks, 1 KiB). One set alone is latency-bound;
// more sets than the 16 ymm registers hold still win (spills to L1 are cheaper than
// waiting). xts_crypt_blocks alone over 256 KiB on Zen 5 with GFNI: 1 set 0.7 GB/s,
// 2 sets 1.1, 4 sets 1.7, 8 sets 2.5.
constexpr std::size_t kWide = 8;
static_assert(kWide == 8, "run() rounds tails up to 1, 2, 4 or 8 sets");

inline V broadcast_lane(__m128i lane) {
  return _mm256_broadcastsi128_si256(lane);
}

inline V shuffle_within_words(V v, char b0, char b1, char b2, char b3) {
  const V mask = broadcast_lane(
      _mm_setr_epi8(b0, b1, b2, b3, static_cast<char>(b0 + 4), static_cast<char>(b1 + 4),
                    static_cast<char>(b2 + 4), static_cast<char>(b3 + 4), static_cast<char>(b0 + 8),
                    static_cast<char>(b1 + 8), static_cast<char>(b2 + 8), static_cast<char>(b3 + 8),
                    static_cast<char>(b0 + 12), static_cast<char>(b1 + 12),
                    static_cast<char>(b2 + 12), static_cast<char>(b3 + 12)));
  return _mm256_shuffle_epi8(v, mask);
}

// Byte i of the result is byte b_i of the same little-endian dword.
inline V bswap32(V v) {
  return shuffle_within_words(v, 3, 2, 1, 0);
}
inline V rotl8(V v) {
  return shuffle_within_words(v, 3, 0, 1, 2);
}
inline V rotl16(V v) {
  return shuffle_within_words(v, 2, 3, 0, 1);
}
inline V rotl24(V v) {
  return shuffle_within_words(v, 1, 2, 3, 0);
}

inline V xor3(V a, V b, V c) {
  return _mm256_xor_si256(_mm256_xor_si256(a, b), c);
}

// 4x4 transpose of dwords inside every 128-bit lane (an involution).
inline void transpose(V& a, V& b, V& c, V& d) {
  const V t0 = _mm256_unpacklo_epi32(a, b);
  const V t1 = _mm256_unpackhi_epi32(a, b);
  const V t2 = _mm256_unpacklo_epi32(c, d);
  const V t3 = _mm256_unpackhi_epi32(c, d);
  a = _mm256_unpacklo_epi64(t0, t2);
  b = _mm256_unpackhi_epi64(t0, t2);
  c = _mm256_unpacklo_epi64(t1, t3);
  d = _mm256_unpackhi_epi64(t1, t3);
}

// x0 ^= T(x1 ^ x2 ^ x3 ^ rk), T = L(S(.)), L(t) = t ^ t<<<24 ^ (t ^ t<<<8 ^ t<<<16)<<<2.
// x3 is the word the previous round produced, so it enters last.
template <class Sbox>
inline void round(V& x0, V x1, V x2, V x3, V rk) {
  const V t = Sbox::apply(_mm256_xor_si256(xor3(x1, x2, rk), x3));
  const V u = xor3(t, rotl8(t), rotl16(t));
  x0 = _mm256_xor_si256(xor3(x0, t, rotl24(t)),
                        _mm256_xor_si256(_mm256_slli_epi32(u, 2), _mm256_srli_epi32(u, 30)));
}

template <class Sbox, std::size_t G>
[[gnu::always_inline]] inline void crypt_sets(const std::uint32_t* rk, V (&x)[G][4]) {
#pragma GCC unroll 8
  for (std::size_t g = 0; g < G; ++g) {
#pragma GCC unroll 4
    for (std::size_t w = 0; w < 4; ++w) x[g][w] = bswap32(x[g][w]);
    transpose(x[g][0], x[g][1], x[g][2], x[g][3]);
  }
  for (std::size_t r = 0; r < 32; r += 4) {
#pragma GCC unroll 4
    for (std::size_t w = 0; w < 4; ++w) {
      const V key = _mm256_set1_epi32(static_cast<int>(rk[r + w]));
#pragma GCC unroll 8
      for (std::size_t g = 0; g < G; ++g) {
        round<Sbox>(x[g][w], x[g][(w + 1) & 3], x[g][(w + 2) & 3], x[g][(w + 3) & 3], key);
      }
    }
  }
#pragma GCC unroll 8
  for (std::size_t g = 0; g < G; ++g) {
    V y0 = x[g][3];  // output words in reverse order: X35, X34, X33, X32
    V y1 = x[g][2];
    V y2 = x[g][1];
    V y3 = x[g][0];
    transpose(y0, y1, y2, y3);
    x[g][0] = bswap32(y0);
    x[g][1] = bswap32(y1);
    x[g][2] = bswap32(y2);
    x[g][3] = bswap32(y3);
  }
}

// Loads and stores of register i (blocks 2i, 2i+1) of a step; a masked step touches only
// the first `valid` blocks, so a tail needs no copying and never reads past the buffer.
template <bool kMasked>
struct Access {
  std::size_t valid;  // blocks (masked steps only)

  V mask(std::size_t i) const {
    const std::size_t words = valid - 2 * i >= 2 ? 8 : 4;  // 2i < valid
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(words)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // Registers wholly past the end are skipped: not even their address is formed.
  V load(const std::uint8_t* base, std::size_t i) const {
    if constexpr (kMasked) {
      if (2 * i >= valid) return _mm256_setzero_si256();
      return _mm256_maskload_epi32(reinterpret_cast<const int*>(base + 32 * i), mask(i));
    }
    return _mm256_loadu_si256(reinterpret_cast<const V*>(base + 32 * i));
  }
  void store(std::uint8_t* base, std::size_t i, V v) const {
    if constexpr (kMasked) {
      if (2 * i < valid) {
        _mm256_maskstore_epi32(reinterpret_cast<int*>(base + 32 * i), mask(i), v);
      }
    } else {
      _mm256_storeu_si256(reinterpret_cast<V*>(base + 32 * i), v);
    }
  }
};

// G register sets (8G blocks); padding blocks of a masked step are computed and dropped.
template <class Sbox, std::size_t G, bool kXts, bool kMasked>
inline void step(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
                 std::uint8_t* out, Access<kMasked> access) {
  V x[G][4];
#pragma GCC unroll 32
  for (std::size_t i = 0; i < 4 * G; ++i) {
    x[i / 4][i % 4] = access.load(in, i);
    if constexpr (kXts) {
      x[i / 4][i % 4] = _mm256_xor_si256(x[i / 4][i % 4], access.load(tweaks, i));
    }
  }
  crypt_sets<Sbox, G>(rk, x);
#pragma GCC unroll 32
  for (std::size_t i = 0; i < 4 * G; ++i) {
    V y = x[i / 4][i % 4];
    if constexpr (kXts) y = _mm256_xor_si256(y, access.load(tweaks, i));
    access.store(out, i, y);
  }
}

template <class Sbox, bool kXts>
void run(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
         std::uint8_t* out, std::size_t blocks) {
  constexpr std::size_t kWideBlocks = kWide * kSetBlocks;
  for (; blocks >= kWideBlocks; blocks -= kWideBlocks) {
    step<Sbox, kWide, kXts, false>(rk, tweaks, in, out, {});
    in += 16 * kWideBlocks;
    out += 16 * kWideBlocks;
    if constexpr (kXts) tweaks += 16 * kWideBlocks;
  }
  // The tail in one masked step, rounded up to a power of two of sets: narrow steps are
  // latency-bound, so the padding sets cost little.
  const Access<true> tail{blocks};
  if (blocks == 0) return;
  if (blocks <= kSetBlocks) return step<Sbox, 1, kXts>(rk, tweaks, in, out, tail);
  if (blocks <= 2 * kSetBlocks) return step<Sbox, 2, kXts>(rk, tweaks, in, out, tail);
  if (blocks <= 4 * kSetBlocks) return step<Sbox, 4, kXts>(rk, tweaks, in, out, tail);
  step<Sbox, 8, kXts>(rk, tweaks, in, out, tail);
}

template <class Sbox>
void crypt_blocks(const std::uint32_t* rk, const std::uint8_t* in, std::uint8_t* out,
                  std::size_t blocks) {
  run<Sbox, false>(rk, nullptr, in, out, blocks);
}

template <class Sbox>
void xts_crypt_blocks(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
                      std::uint8_t* out, std::size_t blocks) {
  run<Sbox, true>(rk, tweaks, in, out, blocks);
}

// Each 128-bit lane (a little-endian tweak: low qword, high qword) times x^k, k and 64-k
// given per qword. The k bits shifted out of the top come back multiplied by
// x^7+x^2+x+1 (c ^ c<<1 ^ c<<2 ^ c<<7), which for k <= 57 stays in the low qword.
inline V mul_x_pow(V t, V k, V k_complement) {
  const V shifted = _mm256_sllv_epi64(t, k);
  const V carries = _mm256_shuffle_epi32(_mm256_srlv_epi64(t, k_complement), 0x4e);
  const V wrapped = _mm256_blend_epi32(_mm256_setzero_si256(), carries, 0x33);  // low qwords
  const V reduction = xor3(_mm256_slli_epi64(wrapped, 1), _mm256_slli_epi64(wrapped, 2),
                           _mm256_slli_epi64(wrapped, 7));
  return xor3(shifted, carries, reduction);
}

inline V mul_x_pow(V t, long long k) {
  return mul_x_pow(t, _mm256_set1_epi64x(k), _mm256_set1_epi64x(64 - k));
}

void make_tweaks(const std::uint8_t* t0, std::uint8_t* tweaks, std::size_t blocks) {
  // Lane l of t[i] is T_{2i+l}; each step advances all 8 by alpha^8.
  const V base = broadcast_lane(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t0)));
  V t[4];
  t[0] = mul_x_pow(base, _mm256_set_epi64x(1, 1, 0, 0), _mm256_set_epi64x(63, 63, 64, 64));
  t[1] = mul_x_pow(t[0], 2);
  t[2] = mul_x_pow(t[0], 4);
  t[3] = mul_x_pow(t[0], 6);
  for (; blocks >= 8; blocks -= 8, tweaks += 128) {
#pragma GCC unroll 4
    for (std::size_t i = 0; i < 4; ++i) {
      _mm256_storeu_si256(reinterpret_cast<V*>(tweaks + 32 * i), t[i]);
      t[i] = mul_x_pow(t[i], 8);
    }
  }
  const Access<true> tail{blocks};
#pragma GCC unroll 4
  for (std::size_t i = 0; i < 4; ++i) tail.store(tweaks, i, t[i]);
}

template <class Sbox>
constexpr Kernels kernels_with() {
  return Kernels{&crypt_blocks<Sbox>, &xts_crypt_blocks<Sbox>, &make_tweaks};
}

}  // namespace
}  // namespace cvmsim::crypto::sm4::avx2
