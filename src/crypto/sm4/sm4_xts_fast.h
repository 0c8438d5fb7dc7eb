// Fast SM4-XTS (IEEE 1619 tweaks, as dm-crypt's sm4-xts-plain64): vectorised kernels chosen
// at run time from the CPU's features, behind the crypto::XtsCipher seam.
//
// Implementations, fastest first (measured figures in docs/benchmarks.md, "SM4-XTS"):
//   gfni_avx512  GFNI + AVX-512 F/BW/VL: 16 blocks per register set, 8 sets interleaved
//   gfni_avx2    GFNI + AVX2: 8 blocks per register set
//   aesni        AES-NI + AVX2: the S-box through AESENCLAST between affine maps
//   portable     32-bit T-tables, any CPU (not constant-time; see sm4_portable.cc)
// The environment variable CVMSIM_SM4_IMPL=<name> forces one (for experiments); asking for
// one the CPU cannot run is an error, never a silent fallback.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "crypto/xts.h"

namespace cvmsim::crypto {

enum class Sm4Impl { portable, aesni, gfni_avx2, gfni_avx512 };

inline constexpr std::string_view kSm4ImplEnvVar = "CVMSIM_SM4_IMPL";

std::string_view to_string(Sm4Impl impl);
std::optional<Sm4Impl> parse_sm4_impl(std::string_view name);

// The implementations this CPU (and OS) can run, slowest first; always has `portable`.
std::vector<Sm4Impl> available_sm4_impls();
bool sm4_impl_available(Sm4Impl impl);

// The fastest implementation this CPU can run (ignores CVMSIM_SM4_IMPL).
Sm4Impl best_sm4_impl();

// What make_sm4_xts uses without an explicit choice: CVMSIM_SM4_IMPL if set, else the best.
// Throws CryptoError{library} if the variable names an unknown or unavailable one.
Sm4Impl default_sm4_impl();

// SM4-XTS with a 32-byte key K1 || K2 (data key, tweak key). Throws CryptoError{bad_key} for
// a wrong size or K1 == K2, CryptoError{library} for an implementation this CPU lacks. The
// cipher is immutable and may be shared between threads. Units are at least 16 bytes;
// `in` and `out` are the same buffer or do not overlap.
std::unique_ptr<XtsCipher> make_sm4_xts(ByteView key, std::optional<Sm4Impl> impl = std::nullopt);

// The implementation behind a cipher made by make_sm4_xts (nullopt for any other cipher).
std::optional<Sm4Impl> sm4_impl_of(const XtsCipher& cipher);

}  // namespace cvmsim::crypto
