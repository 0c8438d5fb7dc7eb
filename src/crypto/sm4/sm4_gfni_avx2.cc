// SM4 kernels for GFNI + AVX2: the 256-bit kernels of sm4_avx2_common.h with the S-box as
// two GFNI instructions (an affine map into the AES field, then GF2P8AFFINEINVQB's
// inversion and the affine map out; derived in sbox_affine.h).
// Built with -mavx2 -mgfni; only called when sm4_impl.cc has seen both features.
#include "crypto/sm4/sbox_affine.h"
#include "crypto/sm4/sm4_avx2_common.h"
#include "crypto/sm4/x86_intrinsics.h"

namespace cvmsim::crypto::sm4 {
namespace {

struct GfniSbox {
  static __m256i apply(__m256i t) {
    const __m256i in_matrix = _mm256_set1_epi64x(static_cast<long long>(affine::kGfniInMatrix));
    const __m256i out_matrix = _mm256_set1_epi64x(static_cast<long long>(affine::kGfniOutMatrix));
    t = _mm256_gf2p8affine_epi64_epi8(t, in_matrix, affine::kGfniInConst);
    return _mm256_gf2p8affineinv_epi64_epi8(t, out_matrix, affine::kGfniOutConst);
  }
};

}  // namespace

extern constinit const Kernels kGfniAvx2Kernels = avx2::kernels_with<GfniSbox>();

}  // namespace cvmsim::crypto::sm4
