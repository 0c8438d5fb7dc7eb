// Independent XTS decryption for checking packed images: AES-256-XTS straight from OpenSSL's
// EVP, and SM4-XTS built here from OpenSSL's SM4-ECB with the IEEE 1619 tweak computed by
// the test itself (no code shared with src/crypto).
#pragma once

#include <cstdint>

#include "common/bytes.h"

namespace cvmsim::test {

// Decrypts consecutive sectors of `sector_size` bytes, the first being sector `first`.
Bytes reference_decrypt_aes_xts(ByteView key64, std::uint64_t first, std::size_t sector_size,
                                ByteView ciphertext);
Bytes reference_decrypt_sm4_xts(ByteView key32, std::uint64_t first, std::size_t sector_size,
                                ByteView ciphertext);

}  // namespace cvmsim::test
