// XTS ciphers built on OpenSSL: AES-256-XTS (native EVP) and SM4-XTS (OpenSSL 3.0 has
// no SM4-XTS, so this composes IEEE 1619 tweak handling over its SM4-ECB). The SM4 one is
// the slow reference; src/crypto/sm4/ holds the vectorised implementation.
#pragma once

#include <memory>

#include "common/bytes.h"
#include "crypto/xts.h"

namespace cvmsim::crypto {

// Key sizes: 64 bytes (two AES-256 keys) and 32 bytes (two SM4 keys). Both throw
// CryptoError{bad_key} on a wrong size or equal halves (IEEE 1619 requires distinct keys).
std::unique_ptr<XtsCipher> make_openssl_aes256_xts(ByteView key);
std::unique_ptr<XtsCipher> make_openssl_sm4_xts(ByteView key);

// Shared by every XTS implementation: validates the key size and the distinct halves.
void check_xts_key(ByteView key, std::size_t expected_size, std::string_view cipher);

}  // namespace cvmsim::crypto
