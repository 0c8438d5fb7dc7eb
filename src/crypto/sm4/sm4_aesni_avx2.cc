// SM4 kernels for AES-NI + AVX2: the 256-bit kernels of sm4_avx2_common.h with the S-box
// computed by AESENCLAST between two affine maps (derived in sbox_affine.h).
//
// AESENCLAST(y, 0) = ShiftRows(SubBytes(y)). SubBytes works byte by byte, so permuting y by
// InvShiftRows first makes the result plain SubBytes(y). The affine maps are two 16-entry
// VPSHUFB lookups each (low nibble, high nibble). AESENCLAST is 128-bit here (VAES is not
// assumed), so each ymm is split into its two lanes for it.
// Built with -mavx2 -maes; only called when sm4_impl.cc has seen both features.
#include "crypto/sm4/sbox_affine.h"
#include "crypto/sm4/sm4_avx2_common.h"
#include "crypto/sm4/x86_intrinsics.h"

namespace cvmsim::crypto::sm4 {
namespace {

inline __m256i table(const affine::Table16& t) {
  return avx2::broadcast_lane(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t.v)));
}

// Two nibble lookups XORed: an affine map on every byte.
inline __m256i affine_map(__m256i x, __m256i low_table, __m256i high_table) {
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i low = _mm256_and_si256(x, nibble);
  const __m256i high = _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble);
  return _mm256_xor_si256(_mm256_shuffle_epi8(low_table, low),
                          _mm256_shuffle_epi8(high_table, high));
}

struct AesniSbox {
  static __m256i apply(__m256i t) {
    // Destination byte r + 4c takes source byte r + 4((c - r) mod 4) (FIPS 197, 5.3.1).
    const __m256i inv_shift_rows =
        avx2::broadcast_lane(_mm_setr_epi8(0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3));
    __m256i y = affine_map(t, table(affine::kAesPreLow), table(affine::kAesPreHigh));
    y = _mm256_shuffle_epi8(y, inv_shift_rows);
    const __m128i zero = _mm_setzero_si128();
    const __m128i low = _mm_aesenclast_si128(_mm256_castsi256_si128(y), zero);
    const __m128i high = _mm_aesenclast_si128(_mm256_extracti128_si256(y, 1), zero);
    y = _mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1);
    return affine_map(y, table(affine::kAesPostLow), table(affine::kAesPostHigh));
  }
};

}  // namespace

extern constinit const Kernels kAesniAvx2Kernels = avx2::kernels_with<AesniSbox>();

}  // namespace cvmsim::crypto::sm4
