// XTS (IEEE 1619) over a block cipher's whole-block primitives: the tweak schedule, the
// batching of many data units into long block runs, and ciphertext stealing. SM4-XTS
// (crypto/sm4/) and the batched AES-XTS path (aes_xts_openssl.cc) both drive it.
//
// T_0 = E_K2(tweak), T_{j+1} = T_j * alpha; C_j = E_K1(P_j ^ T_j) ^ T_j.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/xts.h"

namespace cvmsim::crypto {

// What the driver needs from a block cipher. Pointers and counts are whole 16-byte blocks;
// `in` and `out` are the same buffer or do not overlap.
class XtsBlockOps {
 public:
  virtual ~XtsBlockOps() = default;
  // E_K2 in place over `blocks` tweak inputs, giving each data unit's T_0.
  virtual void encrypt_tweaks(std::uint8_t* tweaks, std::size_t blocks) const = 0;
  // The XTS core with one tweak per block: out_j = E_K1(in_j ^ T_j) ^ T_j, or D_K1.
  virtual void crypt_blocks(bool encrypting, const std::uint8_t* tweaks, const std::uint8_t* in,
                            std::uint8_t* out, std::size_t blocks) const = 0;
  // tweaks_j = t0 * alpha^j in GF(2^128) (IEEE 1619 little-endian bytes), j < blocks.
  virtual void make_tweaks(const std::uint8_t* t0, std::uint8_t* tweaks,
                           std::size_t blocks) const = 0;
};

// One data unit of `size` >= 16 bytes under `tweak` (sizes checked by the caller).
void xts_crypt_unit(const XtsBlockOps& ops, bool encrypting, const Tweak& tweak,
                    const std::uint8_t* in, std::uint8_t* out, std::size_t size);

// `count` consecutive units of `unit_size` >= 16 bytes with plain64 tweaks from first_unit.
void xts_crypt_units(const XtsBlockOps& ops, bool encrypting, std::uint64_t first_unit,
                     std::size_t unit_size, const std::uint8_t* in, std::uint8_t* out,
                     std::size_t count);

// The fastest tweak-schedule kernel this CPU runs (tweaks_j = t0 * alpha^j). The kernels
// are cipher-independent but live in the SM4 kernels' instruction-set translation units,
// which already carry the target flags they need (crypto/sm4/sm4_impl.cc).
using MakeTweaksFn = void (*)(const std::uint8_t* t0, std::uint8_t* tweaks, std::size_t blocks);
MakeTweaksFn fastest_make_tweaks();

}  // namespace cvmsim::crypto
