#include "pki/issuer.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_error.h"
#include "crypto/suite.h"
#include "pki/pki_error.h"

namespace cvmsim::pki {
namespace {

void ok(int rc, const char* what) {
  if (rc != 1) crypto::throw_openssl(what);
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return;
  ok(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                reinterpret_cast<const unsigned char*>(value.c_str()),  // NOLINT
                                -1, -1, 0),
     "X509_NAME_add_entry");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) crypto::throw_openssl(fmt::format("extension {}", value));
  const int rc = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  ok(rc, "X509_add_ext");
}

// Signs with the suite's digest (SM3 with no distinguishing ID for SM2: see issuer.h).
void sign(X509* cert, const crypto::Key& key) {
  const bool sm = key.suite() == crypto::SuiteId::sm;
  if (X509_sign(cert, key.get(), sm ? EVP_sm3() : EVP_sha384()) <= 0) {
    crypto::throw_openssl("X509_sign");
  }
}

std::string key_usage(KeyRole role) {
  switch (role) {
    case KeyRole::certificate_authority:
      return "critical,keyCertSign,cRLSign";
    case KeyRole::signing:
      return "critical,digitalSignature";
    case KeyRole::key_wrapping:
      return "critical,keyEncipherment,keyAgreement";
  }
  return "critical,digitalSignature";
}

}  // namespace

Certificate issue_certificate(const CertificateRequest& request, const crypto::Key& issuer_key,
                              const Certificate* issuer) {
  if (request.subject_key == nullptr) {
    throw PkiError(PkiErrc::bad_certificate, "certificate request without a subject key");
  }
  if (!issuer_key.has_private()) {
    throw PkiError(PkiErrc::bad_certificate, "issuer key has no private part");
  }
  if (request.subject_key->suite() != issuer_key.suite()) {
    throw PkiError(PkiErrc::bad_certificate,
                   fmt::format("cannot certify a {} key with a {} issuer key",
                               crypto::to_string(request.subject_key->suite()),
                               crypto::to_string(issuer_key.suite())));
  }
  Certificate cert = Certificate::adopt(X509_new());
  X509* x = cert.get();
  ok(X509_set_version(x, 2), "X509_set_version");
  const Bytes serial = crypto::random_bytes(16);
  BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
  BN_clear_bit(bn, 127);  // a positive serial of at most 16 bytes
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  // Valid from one hour ago, so clocks a little behind still accept a fresh identity.
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(request.validity_days) * 86400);
  ok(X509_set_pubkey(x, request.subject_key->get()), "X509_set_pubkey");

  X509_NAME* name = X509_get_subject_name(x);
  add_name_entry(name, "O", request.organization);
  add_name_entry(name, "OU", request.organizational_unit);
  add_name_entry(name, "CN", request.common_name);
  ok(X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer->get()) : name),
     "X509_set_issuer_name");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->get() : x, x, nullptr, nullptr, 0);
  const bool ca = request.role == KeyRole::certificate_authority;
  std::string constraints = ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (ca && request.path_length) constraints += fmt::format(",pathlen:{}", *request.path_length);
  add_extension(x, &ctx, NID_basic_constraints, constraints);
  add_extension(x, &ctx, NID_key_usage, key_usage(request.role));
  add_extension(x, &ctx, NID_subject_key_identifier, "hash");
  add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always");
  sign(x, issuer_key);
  return cert;
}

}  // namespace cvmsim::pki
