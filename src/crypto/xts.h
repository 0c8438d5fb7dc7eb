// XTS (IEEE Std 1619) over 128-bit block ciphers: the disk and memory encryption mode.
//
// A data unit is one disk sector or one memory frame. Its 16-byte tweak is, for the
// "plain64" IV scheme used by dm-crypt, the little-endian 64-bit unit number followed by
// eight zero bytes. Ciphertext stealing handles a partial last block (units >= 16 bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/bytes.h"

namespace cvmsim::crypto {

using Tweak = std::array<std::uint8_t, 16>;

// The plain64 tweak of data unit `unit_number`.
Tweak plain64_tweak(std::uint64_t unit_number);

// Refuses (CryptoError{bad_length}, naming `cipher`) input and output that are not the
// same whole number of data units of `unit_size` >= 16 bytes.
void check_xts_units(std::string_view cipher, std::size_t unit_size, ByteView in,
                     MutableByteView out);

class XtsCipher {
 public:
  virtual ~XtsCipher() = default;

  // One data unit: `in` and `out` have the same size >= 16 and may be the same buffer.
  virtual void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const = 0;
  virtual void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const = 0;

  // Consecutive data units of `unit_size` bytes with plain64 tweaks first_unit, first_unit+1,
  // ... `in.size()` must be a multiple of `unit_size`. Throws CryptoError{bad_length}.
  // The default loops over encrypt_unit; vectorised implementations override it.
  virtual void encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                             MutableByteView out) const;
  virtual void decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                             MutableByteView out) const;
};

}  // namespace cvmsim::crypto
