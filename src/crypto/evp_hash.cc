#include "crypto/evp_hash.h"

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include "crypto/crypto_error.h"

namespace cvmsim::crypto::detail {

EvpHash::EvpHash(const EVP_MD* md) : ctx_(check_ptr(EVP_MD_CTX_new(), "EVP_MD_CTX_new")) {
  check(EVP_DigestInit_ex(ctx_.get(), md, nullptr), "digest init");
}

void EvpHash::update(ByteView data) {
  check(EVP_DigestUpdate(ctx_.get(), data.data(), data.size()), "digest update");
}

Bytes EvpHash::finish() {
  Bytes out(static_cast<std::size_t>(EVP_MD_CTX_get_size(ctx_.get())));
  unsigned int length = 0;
  check(EVP_DigestFinal_ex(ctx_.get(), out.data(), &length), "digest final");
  out.resize(length);
  return out;
}

namespace {

// A digest-sign/verify context. SM2 needs its distinguishing ID on a pkey context attached
// before init (the Z value depends on it); OpenSSL 3.0 refuses the ID as an init parameter,
// so this follows the sequence documented in SM2(7). The EVP_MD_CTX does not own the
// attached pkey context, so both live here (the md context is declared last: freed first).
class SignatureContext {
 public:
  SignatureContext(const Key& key, const char* digest, ByteView dist_id, bool signing)
      : md_ctx_(check_ptr(EVP_MD_CTX_new(), "EVP_MD_CTX_new")) {
    if (!dist_id.empty()) {
      pkey_ctx_.reset(
          check_ptr(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr), "EVP_PKEY_CTX_new"));
      check(EVP_PKEY_CTX_set1_id(pkey_ctx_.get(), dist_id.data(), static_cast<int>(dist_id.size())),
            "SM2 distinguishing ID");
      EVP_MD_CTX_set_pkey_ctx(md_ctx_.get(), pkey_ctx_.get());
    }
    using MdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD_free>>;
    const MdPtr md(check_ptr(EVP_MD_fetch(nullptr, digest, nullptr), "digest fetch"));
    const int ok = signing
                       ? EVP_DigestSignInit(md_ctx_.get(), nullptr, md.get(), nullptr, key.get())
                       : EVP_DigestVerifyInit(md_ctx_.get(), nullptr, md.get(), nullptr, key.get());
    check(ok, signing ? "signature init" : "verify init");
  }

  [[nodiscard]] EVP_MD_CTX* get() const { return md_ctx_.get(); }

 private:
  EvpPkeyCtxPtr pkey_ctx_;
  EvpMdCtxPtr md_ctx_;
};

}  // namespace

Bytes evp_sign(const Key& key, const char* digest, ByteView dist_id, ByteView message) {
  require_private(key, "signing key");
  const SignatureContext ctx(key, digest, dist_id, true);
  std::size_t length = 0;
  check(EVP_DigestSign(ctx.get(), nullptr, &length, message.data(), message.size()),
        "signature size");
  Bytes signature(length);
  check(EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()),
        "sign");
  signature.resize(length);
  return signature;
}

bool evp_verify(const Key& key, const char* digest, ByteView dist_id, ByteView message,
                ByteView signature) {
  const SignatureContext ctx(key, digest, dist_id, false);
  const int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                  message.size());
  // A malformed signature is a failed verification, not a library error.
  ERR_clear_error();
  return rc == 1;
}

void require_suite(const Key& key, SuiteId suite, std::string_view role) {
  if (key.suite() != suite) {
    throw CryptoError(CryptoErrc::suite_mismatch,
                      fmt::format("{} is a {} key but the operation uses suite {}", role,
                                  to_string(key.suite()), to_string(suite)));
  }
}

void require_private(const Key& key, std::string_view role) {
  if (!key.has_private()) {
    throw CryptoError(CryptoErrc::bad_key, fmt::format("{} has no private part", role));
  }
}

}  // namespace cvmsim::crypto::detail
