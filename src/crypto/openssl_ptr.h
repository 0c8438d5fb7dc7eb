// unique_ptr aliases for the OpenSSL objects the crypto layer owns (internal header).
#pragma once

#include <openssl/evp.h>

#include <memory>

namespace cvmsim::crypto::detail {

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX_free>>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX_free>>;

// Throws CryptoError{library} with OpenSSL's error queue when `ok` is not 1.
void check(int ok, const char* what);

// Checks that an OpenSSL allocation succeeded.
template <typename T>
T* check_ptr(T* p, const char* what) {
  if (p == nullptr) check(0, what);
  return p;
}

}  // namespace cvmsim::crypto::detail
