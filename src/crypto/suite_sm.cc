// The `sm` suite: SM2 signatures (SM3, default ID), SM2 encryption, SM3, SM4-XTS.
#include <fmt/format.h>
#include <openssl/err.h>

#include "crypto/crypto_error.h"
#include "crypto/evp_hash.h"
#include "crypto/openssl_xts.h"
#include "crypto/sm4/sm4_xts_fast.h"
#include "crypto/suites.h"

namespace cvmsim::crypto {
namespace {

using namespace detail;

// GB/T 32918.2 / GM/T 0009 default user ID, the one every SM2 certificate tool assumes.
constexpr std::string_view kDefaultSm2Id = "1234567812345678";

// The wrapped plaintext is u16be(len(context)) || context || secret, so unwrap can check
// that a blob made for one purpose is not accepted for another.
Bytes frame_secret(ByteView secret, ByteView context) {
  if (context.size() > 0xffff) {
    throw CryptoError(CryptoErrc::bad_length, "key-wrap context longer than 65535 bytes");
  }
  Bytes framed{static_cast<std::uint8_t>(context.size() >> 8),
               static_cast<std::uint8_t>(context.size() & 0xff)};
  append(framed, context);
  append(framed, secret);
  return framed;
}

class SmSuite final : public Suite {
 public:
  SuiteId id() const override { return SuiteId::sm; }
  std::string_view hash_name() const override { return "SM3"; }
  std::size_t digest_size() const override { return 32; }
  std::unique_ptr<HashContext> new_hash() const override {
    return std::make_unique<EvpHash>(EVP_sm3());
  }

  Key generate_key() const override { return Key::generate(SuiteId::sm); }

  Bytes sign(const Key& private_key, ByteView message) const override {
    require_suite(private_key, SuiteId::sm, "signing key");
    return evp_sign(private_key, "SM3", as_bytes(kDefaultSm2Id), message);
  }

  bool verify(const Key& public_key, ByteView message, ByteView signature) const override {
    if (public_key.suite() != SuiteId::sm) return false;
    return evp_verify(public_key, "SM3", as_bytes(kDefaultSm2Id), message, signature);
  }

  Bytes wrap(const Key& recipient, ByteView secret, ByteView context) const override {
    require_suite(recipient, SuiteId::sm, "key-wrapping key");
    Bytes framed = frame_secret(secret, context);
    EvpPkeyCtxPtr ctx(check_ptr(EVP_PKEY_CTX_new_from_pkey(nullptr, recipient.get(), nullptr),
                                "EVP_PKEY_CTX_new"));
    check(EVP_PKEY_encrypt_init(ctx.get()), "SM2 encrypt init");
    std::size_t length = 0;
    check(EVP_PKEY_encrypt(ctx.get(), nullptr, &length, framed.data(), framed.size()),
          "SM2 encrypt size");
    Bytes out(length);
    check(EVP_PKEY_encrypt(ctx.get(), out.data(), &length, framed.data(), framed.size()),
          "SM2 encrypt");
    out.resize(length);
    secure_wipe(framed);
    return out;
  }

  Bytes unwrap(const Key& recipient, ByteView wrapped, ByteView context) const override {
    require_suite(recipient, SuiteId::sm, "key-wrapping key");
    require_private(recipient, "key-wrapping key");
    EvpPkeyCtxPtr ctx(check_ptr(EVP_PKEY_CTX_new_from_pkey(nullptr, recipient.get(), nullptr),
                                "EVP_PKEY_CTX_new"));
    check(EVP_PKEY_decrypt_init(ctx.get()), "SM2 decrypt init");
    std::size_t length = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &length, wrapped.data(), wrapped.size()) != 1) {
      ERR_clear_error();
      throw CryptoError(CryptoErrc::unwrap_failed, "SM2-wrapped key is malformed");
    }
    Bytes framed(length);
    if (EVP_PKEY_decrypt(ctx.get(), framed.data(), &length, wrapped.data(), wrapped.size()) != 1) {
      ERR_clear_error();
      throw CryptoError(CryptoErrc::unwrap_failed,
                        "SM2-wrapped key does not decrypt with this chip's key-wrapping key");
    }
    framed.resize(length);
    const std::size_t context_size =
        framed.size() >= 2 ? (std::size_t{framed[0]} << 8) | framed[1] : SIZE_MAX;
    const bool context_ok = context_size == context.size() && framed.size() >= 2 + context_size &&
                            equal_constant_time(ByteView(framed).subspan(2, context_size), context);
    if (!context_ok) {
      secure_wipe(framed);
      throw CryptoError(CryptoErrc::unwrap_failed,
                        "SM2-wrapped key was made for a different purpose (context mismatch)");
    }
    Bytes secret(framed.begin() + static_cast<std::ptrdiff_t>(2 + context_size), framed.end());
    secure_wipe(framed);
    return secret;
  }

  std::string_view xts_cipher_name() const override { return "sm4-xts-plain64"; }
  std::size_t xts_key_size() const override { return 32; }
  std::unique_ptr<XtsCipher> new_xts(ByteView key) const override { return make_sm4_xts(key); }
};

}  // namespace

const Suite& sm_suite() {
  static const SmSuite instance;
  return instance;
}

}  // namespace cvmsim::crypto
