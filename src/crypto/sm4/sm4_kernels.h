// The interface between the XTS driver (sm4_xts.cc) and the per-CPU SM4 kernels.
//
// One table of function pointers per implementation; each lives in its own .cc compiled
// with that implementation's target flags (see CMakeLists.txt). The interface is plain
// pointers and sizes on purpose: ISA-specific translation units include nothing that has
// inline functions with external linkage (std containers, spans...), since the linker may
// keep any one copy of such a function, possibly the AVX-512 one, for the whole program.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cvmsim::crypto::sm4 {

struct Kernels {
  // ECB over whole 16-byte blocks with 32 round keys (encryption keys, or the reversed
  // ones for decryption). `in` and `out` may be the same buffer.
  void (*crypt_blocks)(const std::uint32_t* round_keys, const std::uint8_t* in, std::uint8_t* out,
                       std::size_t blocks);
  // XTS core with one 16-byte tweak per block: out_j = E(in_j ^ T_j) ^ T_j.
  void (*xts_crypt_blocks)(const std::uint32_t* round_keys, const std::uint8_t* tweaks,
                           const std::uint8_t* in, std::uint8_t* out, std::size_t blocks);
  // tweaks_j = t0 * alpha^j in GF(2^128) (IEEE 1619 little-endian bytes), j < blocks.
  void (*make_tweaks)(const std::uint8_t* t0, std::uint8_t* tweaks, std::size_t blocks);
};

// Defined in sm4_portable.cc, sm4_aesni_avx2.cc, sm4_gfni_avx2.cc, sm4_gfni_avx512.cc.
// Calling a vector kernel on a CPU without its features is undefined (SIGILL): select
// through kernels_for() in sm4_impl.cc, which checks the CPU first.
extern const Kernels kPortableKernels;
extern const Kernels kAesniAvx2Kernels;
extern const Kernels kGfniAvx2Kernels;
extern const Kernels kGfniAvx512Kernels;

// Round keys: encryption order and the reverse (decryption) order.
struct KeySchedule {
  std::uint32_t encrypt[32];
  std::uint32_t decrypt[32];
};

// Expands a 16-byte SM4 key (GB/T 32907-2016 section 7.3).
void expand_key(const std::uint8_t* key16, KeySchedule& out);

}  // namespace cvmsim::crypto::sm4
