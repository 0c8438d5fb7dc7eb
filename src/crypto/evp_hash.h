// HashContext over an OpenSSL message digest (internal to the suites).
#pragma once

#include <openssl/evp.h>

#include "crypto/openssl_ptr.h"
#include "crypto/suite.h"

namespace cvmsim::crypto::detail {

class EvpHash final : public HashContext {
 public:
  explicit EvpHash(const EVP_MD* md);
  void update(ByteView data) override;
  Bytes finish() override;

 private:
  EvpMdCtxPtr ctx_;
};

// Signs / verifies with EVP_DigestSign; `dist_id` is the SM2 distinguishing ID (empty for
// ECDSA, which has none).
Bytes evp_sign(const Key& key, const char* digest, ByteView dist_id, ByteView message);
bool evp_verify(const Key& key, const char* digest, ByteView dist_id, ByteView message,
                ByteView signature);

// Throws CryptoError{suite_mismatch} unless `key` belongs to `suite`, naming `role`.
void require_suite(const Key& key, SuiteId suite, std::string_view role);
// Throws CryptoError{bad_key} unless `key` holds a private part, naming `role`.
void require_private(const Key& key, std::string_view role);

}  // namespace cvmsim::crypto::detail
