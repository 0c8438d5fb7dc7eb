#include "crypto/xts.h"

#include <fmt/format.h>

#include "crypto/crypto_error.h"

namespace cvmsim::crypto {

void check_xts_units(std::string_view cipher, std::size_t unit_size, ByteView in,
                     MutableByteView out) {
  if (unit_size < 16 || in.size() % unit_size != 0 || out.size() != in.size()) {
    throw CryptoError(CryptoErrc::bad_length,
                      fmt::format("{}: {} input bytes and {} output bytes are not whole data "
                                  "units of {} bytes (units must be at least 16 bytes)",
                                  cipher, in.size(), out.size(), unit_size));
  }
}

Tweak plain64_tweak(std::uint64_t unit_number) {
  Tweak tweak{};
  for (std::size_t i = 0; i < 8; ++i) {
    tweak[i] = static_cast<std::uint8_t>(unit_number >> (8 * i));
  }
  return tweak;
}

void XtsCipher::encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                              MutableByteView out) const {
  check_xts_units("XTS", unit_size, in, out);
  for (std::size_t offset = 0, unit = 0; offset < in.size(); offset += unit_size, ++unit) {
    encrypt_unit(plain64_tweak(first_unit + unit), in.subspan(offset, unit_size),
                 out.subspan(offset, unit_size));
  }
}

void XtsCipher::decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                              MutableByteView out) const {
  check_xts_units("XTS", unit_size, in, out);
  for (std::size_t offset = 0, unit = 0; offset < in.size(); offset += unit_size, ++unit) {
    decrypt_unit(plain64_tweak(first_unit + unit), in.subspan(offset, unit_size),
                 out.subspan(offset, unit_size));
  }
}

}  // namespace cvmsim::crypto
