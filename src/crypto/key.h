// An asymmetric key (public, or a key pair) of one suite: SM2 for sm, P-384 for nist.
// Move-only RAII owner of an OpenSSL EVP_PKEY.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "crypto/suite_id.h"

struct evp_pkey_st;

namespace cvmsim::crypto {

class Key {
 public:
  static Key generate(SuiteId suite);
  // Accepts PEM (private key, public key) or DER (PKCS#8, SubjectPublicKeyInfo).
  // `what` names the source in error messages (usually a file path).
  static Key parse(ByteView pem_or_der, std::string_view what);
  // Takes ownership of an EVP_PKEY (e.g. one extracted from a certificate).
  static Key adopt(evp_pkey_st* pkey, std::string_view what);

  [[nodiscard]] SuiteId suite() const noexcept { return suite_; }
  [[nodiscard]] bool has_private() const noexcept { return has_private_; }

  [[nodiscard]] std::string private_pem() const;  // PKCS#8; throws if public only
  [[nodiscard]] std::string public_pem() const;
  [[nodiscard]] Bytes public_der() const;  // SubjectPublicKeyInfo
  [[nodiscard]] Key public_only() const;
  // Another handle on the same key (OpenSSL's reference count): keys are never changed
  // after creation, so handles can be shared instead of parsing the key again.
  [[nodiscard]] Key share() const;

  [[nodiscard]] evp_pkey_st* get() const noexcept { return pkey_.get(); }

 private:
  struct Free {
    void operator()(evp_pkey_st* p) const noexcept;
  };
  Key(std::unique_ptr<evp_pkey_st, Free> pkey, SuiteId suite, bool has_private)
      : pkey_(std::move(pkey)), suite_(suite), has_private_(has_private) {}

  std::unique_ptr<evp_pkey_st, Free> pkey_;
  SuiteId suite_;
  bool has_private_;
};

}  // namespace cvmsim::crypto
