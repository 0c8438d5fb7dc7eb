// SM4 kernels for GFNI + AVX-512 (F, BW, VL): 16 blocks per set of four zmm registers,
// eight sets (128 blocks, 2 KiB) interleaved per loop iteration to hide latency.
//
// Layout: four zmm registers hold 16 blocks; a 4x4 dword transpose inside each 128-bit lane
// turns them into "word-sliced" form (register w holds word w of 16 blocks), so one SM4
// round is the same dozen instructions for all 16 blocks:
//   t = x1 ^ x2 ^ x3 ^ rk          (VPTERNLOGD, VPXORD; the key is a broadcast)
//   t = S(t)                       (GF2P8AFFINEQB, GF2P8AFFINEINVQB; see sbox_affine.h)
//   x0 ^= t ^ t<<<2 ^ t<<<10 ^ t<<<18 ^ t<<<24      (L: four VPROLD, VPTERNLOGD, VPXORD)
// Built with -mavx512f -mavx512bw -mavx512vl -mgfni (CMakeLists.txt); only called when
// sm4_impl.cc has seen those features and the OS's AVX-512 state support.
#include <cstddef>
#include <cstdint>

#include "crypto/sm4/sbox_affine.h"
#include "crypto/sm4/sm4_kernels.h"
#include "crypto/sm4/x86_intrinsics.h"

namespace cvmsim::crypto::sm4 {
namespace {

using V = __m512i;
constexpr int kXor3 = 0x96;  // VPTERNLOG truth table of a ^ b ^ c

// Four zmm registers: 16 blocks.
constexpr std::size_t kSetBlocks = 16;
// Register sets interleaved in the main loop (128 blocks, 2 KiB). One set alone is
// latency-bound (each round depends on the previous one); xts_crypt_blocks alone over
// 256 KiB on Zen 5: 1 set 1.6 GB/s, 2 sets 3.2, 4 sets 5.7, 8 sets 6.6.
constexpr std::size_t kWide = 8;
static_assert(kWide == 8, "run() rounds tails up to 1, 2, 4 or 8 sets");

inline V bswap32(V v) {
  const V mask =
      _mm512_broadcast_i32x4(_mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
  return _mm512_shuffle_epi8(v, mask);
}

// 4x4 transpose of dwords inside every 128-bit lane (an involution).
inline void transpose(V& a, V& b, V& c, V& d) {
  const V t0 = _mm512_unpacklo_epi32(a, b);
  const V t1 = _mm512_unpackhi_epi32(a, b);
  const V t2 = _mm512_unpacklo_epi32(c, d);
  const V t3 = _mm512_unpackhi_epi32(c, d);
  a = _mm512_unpacklo_epi64(t0, t2);
  b = _mm512_unpackhi_epi64(t0, t2);
  c = _mm512_unpacklo_epi64(t1, t3);
  d = _mm512_unpackhi_epi64(t1, t3);
}

inline V sbox(V t) {
  const V in_matrix = _mm512_set1_epi64(static_cast<long long>(affine::kGfniInMatrix));
  const V out_matrix = _mm512_set1_epi64(static_cast<long long>(affine::kGfniOutMatrix));
  t = _mm512_gf2p8affine_epi64_epi8(t, in_matrix, affine::kGfniInConst);
  return _mm512_gf2p8affineinv_epi64_epi8(t, out_matrix, affine::kGfniOutConst);
}

// x0 ^= T(x1 ^ x2 ^ x3 ^ rk). x3 is the word the previous round produced, so it enters
// last: everything else can be computed while that round is still in flight.
inline void round(V& x0, V x1, V x2, V x3, V rk) {
  V t = _mm512_xor_si512(_mm512_ternarylogic_epi32(x1, x2, rk, kXor3), x3);
  t = sbox(t);
  // L(t) = t ^ t<<<2 ^ t<<<10 ^ t<<<18 ^ t<<<24: four independent rotations, two levels
  // of three-way XOR.
  const V a = _mm512_ternarylogic_epi32(x0, t, _mm512_rol_epi32(t, 2), kXor3);
  const V b = _mm512_ternarylogic_epi32(_mm512_rol_epi32(t, 10), _mm512_rol_epi32(t, 18),
                                        _mm512_rol_epi32(t, 24), kXor3);
  x0 = _mm512_xor_si512(a, b);
}

// x[g] holds 16 blocks in memory order; on return the 16 output blocks, same order.
template <std::size_t G>
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
      const V key = _mm512_set1_epi32(static_cast<int>(rk[r + w]));
#pragma GCC unroll 8
      for (std::size_t g = 0; g < G; ++g) {
        round(x[g][w], x[g][(w + 1) & 3], x[g][(w + 2) & 3], x[g][(w + 3) & 3], key);
      }
    }
  }
  // Output words in reverse order (X35, X34, X33, X32), back to one block per lane.
#pragma GCC unroll 8
  for (std::size_t g = 0; g < G; ++g) {
    V y0 = x[g][3];
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

// Loads and stores of register i (blocks 4i..4i+3) of a step; a masked step touches only
// the first `valid` blocks, so a tail needs no copying and never reads past the buffer.
template <bool kMasked>
struct Access {
  std::size_t valid;  // blocks (masked steps only)

  __mmask16 mask(std::size_t i) const {
    const std::size_t first = 4 * i;
    const std::size_t words = valid - first >= 4 ? 16 : 4 * (valid - first);  // first < valid
    return static_cast<__mmask16>((1u << words) - 1);
  }
  // Registers wholly past the end are skipped: not even their address is formed.
  V load(const std::uint8_t* base, std::size_t i) const {
    if constexpr (kMasked) {
      if (4 * i >= valid) return _mm512_setzero_si512();
      return _mm512_maskz_loadu_epi32(mask(i), base + 64 * i);
    }
    return _mm512_loadu_si512(base + 64 * i);
  }
  void store(std::uint8_t* base, std::size_t i, V v) const {
    if constexpr (kMasked) {
      if (4 * i < valid) _mm512_mask_storeu_epi32(base + 64 * i, mask(i), v);
    } else {
      _mm512_storeu_si512(base + 64 * i, v);
    }
  }
};

// G register sets (16G blocks); padding blocks of a masked step are computed and dropped.
template <std::size_t G, bool kXts, bool kMasked>
inline void step(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
                 std::uint8_t* out, Access<kMasked> access) {
  V x[G][4];
#pragma GCC unroll 32
  for (std::size_t i = 0; i < 4 * G; ++i) {
    x[i / 4][i % 4] = access.load(in, i);
    if constexpr (kXts) {
      x[i / 4][i % 4] = _mm512_xor_si512(x[i / 4][i % 4], access.load(tweaks, i));
    }
  }
  crypt_sets<G>(rk, x);
#pragma GCC unroll 32
  for (std::size_t i = 0; i < 4 * G; ++i) {
    V y = x[i / 4][i % 4];
    if constexpr (kXts) y = _mm512_xor_si512(y, access.load(tweaks, i));
    access.store(out, i, y);
  }
}

template <bool kXts>
void run(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
         std::uint8_t* out, std::size_t blocks) {
  constexpr std::size_t kWideBlocks = kWide * kSetBlocks;
  for (; blocks >= kWideBlocks; blocks -= kWideBlocks) {
    step<kWide, kXts, false>(rk, tweaks, in, out, {});
    in += 16 * kWideBlocks;
    out += 16 * kWideBlocks;
    if constexpr (kXts) tweaks += 16 * kWideBlocks;
  }
  // The tail in one masked step, rounded up to a power of two of sets: narrow steps are
  // latency-bound, so the padding sets cost little.
  const Access<true> tail{blocks};
  if (blocks == 0) return;
  if (blocks <= kSetBlocks) return step<1, kXts>(rk, tweaks, in, out, tail);
  if (blocks <= 2 * kSetBlocks) return step<2, kXts>(rk, tweaks, in, out, tail);
  if (blocks <= 4 * kSetBlocks) return step<4, kXts>(rk, tweaks, in, out, tail);
  step<8, kXts>(rk, tweaks, in, out, tail);
}

void crypt_blocks(const std::uint32_t* rk, const std::uint8_t* in, std::uint8_t* out,
                  std::size_t blocks) {
  run<false>(rk, nullptr, in, out, blocks);
}

void xts_crypt_blocks(const std::uint32_t* rk, const std::uint8_t* tweaks, const std::uint8_t* in,
                      std::uint8_t* out, std::size_t blocks) {
  run<true>(rk, tweaks, in, out, blocks);
}

// Each 128-bit lane (a little-endian tweak: low qword, high qword) times x^k, with k and
// 64-k given per qword so that lanes can use different k. The bits shifted out of the top
// (high >> (64-k), at most k bits) come back as their product with x^7+x^2+x+1, which for
// k <= 57 stays inside the low qword.
inline V mul_x_pow(V t, V k, V k_complement) {
  const V shifted = _mm512_sllv_epi64(t, k);
  const V carries = _mm512_shuffle_epi32(_mm512_srlv_epi64(t, k_complement), _MM_PERM_BADC);
  const V wrapped = _mm512_maskz_mov_epi64(0x55, carries);  // low qwords: from the top
  const V reduction =
      _mm512_ternarylogic_epi64(_mm512_slli_epi64(wrapped, 1), _mm512_slli_epi64(wrapped, 2),
                                _mm512_slli_epi64(wrapped, 7), kXor3);
  return _mm512_ternarylogic_epi64(shifted, carries, reduction, kXor3);
}

inline V mul_x_pow(V t, int k) {
  return mul_x_pow(t, _mm512_set1_epi64(k), _mm512_set1_epi64(64 - k));
}

void make_tweaks(const std::uint8_t* t0, std::uint8_t* tweaks, std::size_t blocks) {
  // Lane l of t[i] is T_{4i+l}; each step advances all 16 by alpha^16.
  const V base = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t0)));
  V t[4];
  t[0] = mul_x_pow(base, _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0),
                   _mm512_set_epi64(61, 61, 62, 62, 63, 63, 64, 64));
  t[1] = mul_x_pow(t[0], 4);
  t[2] = mul_x_pow(t[0], 8);
  t[3] = mul_x_pow(t[0], 12);
  for (; blocks >= 16; blocks -= 16, tweaks += 256) {
#pragma GCC unroll 4
    for (std::size_t i = 0; i < 4; ++i) {
      _mm512_storeu_si512(tweaks + 64 * i, t[i]);
      t[i] = mul_x_pow(t[i], 16);
    }
  }
  const Access<true> tail{blocks};
#pragma GCC unroll 4
  for (std::size_t i = 0; i < 4; ++i) tail.store(tweaks, i, t[i]);
}

}  // namespace

extern constinit const Kernels kGfniAvx512Kernels = {&crypt_blocks, &xts_crypt_blocks,
                                                     &make_tweaks};

}  // namespace cvmsim::crypto::sm4
