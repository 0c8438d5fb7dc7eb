#include "pki/certificate.h"

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "common/hex.h"
#include "crypto/crypto_error.h"
#include "pki/pki_error.h"

namespace cvmsim::pki {
namespace {

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) crypto::throw_openssl("BIO_new");
  return bio;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return {data, static_cast<std::size_t>(size)};
}

bool looks_like_pem(ByteView data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()),  // NOLINT
                              data.size());
  return text.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos;
}

std::string name_line(const X509_NAME* name) {
  BioPtr bio = memory_bio();
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bio_text(bio.get());
}

}  // namespace

std::string_view error_code_name(PkiErrc code) {
  switch (code) {
    case PkiErrc::bad_certificate:
      return "bad_certificate";
    case PkiErrc::bad_chain:
      return "bad_chain";
    case PkiErrc::bad_identity:
      return "bad_identity";
    case PkiErrc::already_exists:
      return "already_exists";
  }
  return "unknown";
}

void Certificate::Free::operator()(x509_st* p) const noexcept {
  X509_free(p);
}

Certificate Certificate::adopt(x509_st* cert) {
  if (cert == nullptr) throw PkiError(PkiErrc::bad_certificate, "no certificate");
  return Certificate(std::unique_ptr<x509_st, Free>(cert));
}

std::vector<Certificate> Certificate::parse_all(ByteView data, std::string_view source) {
  std::vector<Certificate> out;
  if (looks_like_pem(data)) {
    BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      out.push_back(adopt(cert));
    }
    // The loop ends on "no more PEM blocks", which OpenSSL reports as an error.
    ERR_clear_error();
  } else {
    // One DER certificate, or several concatenated (as `cvmsim chip export --format der`).
    const unsigned char* cursor = data.data();
    const unsigned char* const end = data.data() + data.size();
    while (cursor < end) {
      X509* cert = d2i_X509(nullptr, &cursor, static_cast<long>(end - cursor));
      ERR_clear_error();
      if (cert == nullptr) {
        throw PkiError(PkiErrc::bad_certificate,
                       fmt::format("{}: byte {} does not start a DER certificate", source,
                                   cursor - data.data()));
      }
      out.push_back(adopt(cert));
    }
  }
  if (out.empty()) {
    throw PkiError(PkiErrc::bad_certificate,
                   fmt::format("{}: no X.509 certificate (expected PEM or DER)", source));
  }
  return out;
}

Certificate Certificate::parse(ByteView data, std::string_view source) {
  auto all = parse_all(data, source);
  if (all.size() != 1) {
    throw PkiError(
        PkiErrc::bad_certificate,
        fmt::format("{}: holds {} certificates; expected exactly one", source, all.size()));
  }
  return std::move(all.front());
}

std::string Certificate::pem() const {
  BioPtr bio = memory_bio();
  if (PEM_write_bio_X509(bio.get(), cert_.get()) != 1) crypto::throw_openssl("PEM_write_bio_X509");
  return bio_text(bio.get());
}

Bytes Certificate::der() const {
  const int size = i2d_X509(cert_.get(), nullptr);
  if (size <= 0) crypto::throw_openssl("i2d_X509");
  Bytes out(static_cast<std::size_t>(size));
  unsigned char* cursor = out.data();
  i2d_X509(cert_.get(), &cursor);
  return out;
}

std::string Certificate::subject() const {
  return name_line(X509_get_subject_name(cert_.get()));
}
std::string Certificate::issuer() const {
  return name_line(X509_get_issuer_name(cert_.get()));
}

std::string Certificate::common_name() const {
  char buffer[256] = {};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert_.get()), NID_commonName,
                                          buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

std::string Certificate::serial_hex() const {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert_.get());
  return to_hex({serial->data, static_cast<std::size_t>(serial->length)});
}

namespace {

// RFC 3339 in UTC: what JSON readers parse, unlike OpenSSL's "Dec  1 12:00:00 2036 GMT".
std::string rfc3339(const ASN1_TIME* time, const std::string& subject, const char* which) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    throw PkiError(PkiErrc::bad_certificate,
                   fmt::format("certificate {}: {} is not a valid time", subject, which));
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

std::string Certificate::not_before() const {
  return rfc3339(X509_get0_notBefore(cert_.get()), subject(), "notBefore");
}

std::string Certificate::not_after() const {
  return rfc3339(X509_get0_notAfter(cert_.get()), subject(), "notAfter");
}

bool Certificate::is_ca() const {
  return X509_check_ca(cert_.get()) != 0;
}

crypto::Key Certificate::public_key() const {
  EVP_PKEY* key = X509_get_pubkey(cert_.get());
  if (key == nullptr) {
    throw PkiError(PkiErrc::bad_certificate,
                   fmt::format("certificate {} has no usable public key", subject()));
  }
  return crypto::Key::adopt(key, subject());
}

Bytes Certificate::sha256_fingerprint() const {
  Bytes out(32);
  unsigned int length = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), out.data(), &length) != 1) {
    crypto::throw_openssl("X509_digest");
  }
  return out;
}

Bytes Certificate::key_fingerprint() const {
  const Bytes spki = public_key().public_der();
  Bytes out(32);
  unsigned int length = 0;
  if (EVP_Digest(spki.data(), spki.size(), out.data(), &length, EVP_sha256(), nullptr) != 1) {
    crypto::throw_openssl("EVP_Digest");
  }
  return out;
}

Certificate Certificate::clone() const {
  X509_up_ref(cert_.get());
  return adopt(cert_.get());
}

std::string to_pem_bundle(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += c.pem();
  return out;
}

crypto::Key certificate_or_key(ByteView data, std::string_view source) {
  try {
    return Certificate::parse(data, source).public_key();
  } catch (const Error&) {
  }
  try {
    return crypto::Key::parse(data, source).public_only();
  } catch (const Error&) {
    throw PkiError(PkiErrc::bad_certificate,
                   fmt::format("{}: neither an X.509 certificate nor a key (PEM or DER)", source));
  }
}

}  // namespace cvmsim::pki
