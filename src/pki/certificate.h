// An X.509 certificate (move-only owner of an OpenSSL X509). PEM and DER are accepted on
// input; a PEM file may hold several certificates (a chain).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "crypto/key.h"

struct x509_st;

namespace cvmsim::pki {

class Certificate {
 public:
  // Exactly one certificate, PEM or DER. Throws PkiError{bad_certificate} naming `source`.
  static Certificate parse(ByteView pem_or_der, std::string_view source);
  // One or more certificates: a PEM bundle, or a single DER certificate.
  static std::vector<Certificate> parse_all(ByteView pem_or_der, std::string_view source);
  static Certificate adopt(x509_st* cert);

  [[nodiscard]] std::string pem() const;
  [[nodiscard]] Bytes der() const;
  [[nodiscard]] std::string subject() const;  // one-line RFC 2253 form
  [[nodiscard]] std::string issuer() const;
  [[nodiscard]] std::string common_name() const;  // the subject's CN
  [[nodiscard]] std::string serial_hex() const;
  // Validity bounds in RFC 3339 UTC ("2036-12-01T12:00:00Z").
  [[nodiscard]] std::string not_before() const;
  [[nodiscard]] std::string not_after() const;
  [[nodiscard]] bool is_ca() const;
  [[nodiscard]] crypto::Key public_key() const;
  [[nodiscard]] Bytes sha256_fingerprint() const;
  // SHA-256 of the SubjectPublicKeyInfo DER: tells apart two certificates with one subject
  // (`openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum`).
  [[nodiscard]] Bytes key_fingerprint() const;
  [[nodiscard]] Certificate clone() const;

  [[nodiscard]] x509_st* get() const noexcept { return cert_.get(); }

 private:
  struct Free {
    void operator()(x509_st* p) const noexcept;
  };
  explicit Certificate(std::unique_ptr<x509_st, Free> cert) : cert_(std::move(cert)) {}
  std::unique_ptr<x509_st, Free> cert_;
};

// Concatenated PEM of `certs`.
std::string to_pem_bundle(const std::vector<Certificate>& certs);

// The public key of a certificate, or a public (or private) key itself, PEM or DER: what
// options that take "a certificate or key" accept. Throws PkiError{bad_certificate}
// naming `source` when the data is neither.
crypto::Key certificate_or_key(ByteView data, std::string_view source);

}  // namespace cvmsim::pki
