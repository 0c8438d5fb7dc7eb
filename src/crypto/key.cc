#include "crypto/key.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>

#include "crypto/crypto_error.h"
#include "crypto/openssl_ptr.h"

namespace cvmsim::crypto {
namespace {

using detail::check;
using detail::EvpPkeyPtr;
using BioPtr = std::unique_ptr<BIO, detail::OpenSslDeleter<BIO_free>>;
using DecoderCtxPtr =
    std::unique_ptr<OSSL_DECODER_CTX, detail::OpenSslDeleter<OSSL_DECODER_CTX_free>>;

// sm keys are SM2 keys; nist keys are EC keys on P-384. Anything else is refused here so
// that no layer above has to consider a third kind of key.
SuiteId detect_suite(EVP_PKEY* pkey, std::string_view what) {
  if (EVP_PKEY_is_a(pkey, "SM2") != 0) return SuiteId::sm;
  if (EVP_PKEY_is_a(pkey, "EC") != 0) {
    std::array<char, 64> group{};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(pkey, group.data(), group.size(), &length) == 1) {
      const std::string_view name(group.data(), length);
      if (name == "secp384r1" || name == "P-384") return SuiteId::nist;
      if (name == "SM2") return SuiteId::sm;
      throw CryptoError(CryptoErrc::bad_key,
                        fmt::format("{}: EC key on curve {}; expected SM2 (suite sm) or P-384 "
                                    "(suite nist)",
                                    what, name));
    }
  }
  throw CryptoError(CryptoErrc::bad_key,
                    fmt::format("{}: key type {} is not supported; expected SM2 or EC P-384", what,
                                EVP_PKEY_get0_type_name(pkey)));
}

bool has_private_part(EVP_PKEY* pkey) {
  BIGNUM* priv = nullptr;
  const bool present = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
  BN_clear_free(priv);
  return present;
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return {data, static_cast<std::size_t>(size)};
}

EvpPkeyPtr try_decode(ByteView input, int selection) {
  EVP_PKEY* raw = nullptr;
  DecoderCtxPtr ctx(
      OSSL_DECODER_CTX_new_for_pkey(&raw, nullptr, nullptr, nullptr, selection, nullptr, nullptr));
  if (!ctx) return nullptr;
  const unsigned char* data = input.data();
  std::size_t length = input.size();
  if (OSSL_DECODER_from_data(ctx.get(), &data, &length) != 1) {
    EVP_PKEY_free(raw);
    return nullptr;
  }
  return EvpPkeyPtr(raw);
}

}  // namespace

void Key::Free::operator()(evp_pkey_st* p) const noexcept {
  EVP_PKEY_free(p);
}

Key Key::generate(SuiteId suite) {
  EVP_PKEY* raw = suite == SuiteId::sm ? EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2")
                                       : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  if (raw == nullptr) throw_openssl(fmt::format("generating a {} key", to_string(suite)));
  return Key(std::unique_ptr<evp_pkey_st, Free>(raw), suite, true);
}

Key Key::parse(ByteView pem_or_der, std::string_view what) {
  // Private keys first: a key pair file must not silently load as its public half.
  EvpPkeyPtr pkey = try_decode(pem_or_der, OSSL_KEYMGMT_SELECT_KEYPAIR);
  if (!pkey) pkey = try_decode(pem_or_der, OSSL_KEYMGMT_SELECT_PUBLIC_KEY);
  ERR_clear_error();
  if (!pkey) {
    throw CryptoError(CryptoErrc::bad_key,
                      fmt::format("{}: not a PEM or DER private or public key", what));
  }
  return adopt(pkey.release(), what);
}

Key Key::adopt(evp_pkey_st* pkey, std::string_view what) {
  std::unique_ptr<evp_pkey_st, Free> owned(pkey);
  if (!owned) throw CryptoError(CryptoErrc::bad_key, fmt::format("{}: no key", what));
  const SuiteId suite = detect_suite(owned.get(), what);
  const bool has_private = has_private_part(owned.get());
  return Key(std::move(owned), suite, has_private);
}

std::string Key::private_pem() const {
  if (!has_private_) {
    throw CryptoError(CryptoErrc::bad_key, "cannot export a private key from a public key");
  }
  BioPtr bio(detail::check_ptr(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return bio_to_string(bio.get());
}

std::string Key::public_pem() const {
  BioPtr bio(detail::check_ptr(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_PUBKEY(bio.get(), pkey_.get()), "PEM_write_bio_PUBKEY");
  return bio_to_string(bio.get());
}

Bytes Key::public_der() const {
  const int size = i2d_PUBKEY(pkey_.get(), nullptr);
  if (size <= 0) throw_openssl("i2d_PUBKEY");
  Bytes out(static_cast<std::size_t>(size));
  unsigned char* cursor = out.data();
  if (i2d_PUBKEY(pkey_.get(), &cursor) != size) throw_openssl("i2d_PUBKEY");
  return out;
}

Key Key::public_only() const {
  return parse(public_der(), "public key");
}

Key Key::share() const {
  EVP_PKEY_up_ref(pkey_.get());
  return Key(std::unique_ptr<evp_pkey_st, Free>(pkey_.get()), suite_, has_private_);
}

}  // namespace cvmsim::crypto
