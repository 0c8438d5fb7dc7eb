// ECIES wrap: an ephemeral P-384 key agrees a secret with the recipient; HKDF-SHA384 turns
// it into an AES-256-GCM key bound to both public keys and the caller's context.
//
//   wrapped = version(1) || ephemeral point (97, uncompressed) || nonce (12) || ct || tag (16)
//   key     = HKDF-SHA384(ikm = ECDH x-coordinate, salt = "",
//                         info = "cvmsim-ecies-p384-v1" || ephemeral point || recipient point)
//   AAD     = context
#include "crypto/ecies_p384.h"

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

#include <array>

#include "crypto/crypto_error.h"
#include "crypto/evp_hash.h"
#include "crypto/openssl_ptr.h"
#include "crypto/suite.h"

namespace cvmsim::crypto::detail {
namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kPointSize = 97;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::string_view kInfoLabel = "cvmsim-ecies-p384-v1";

using KdfPtr = std::unique_ptr<EVP_KDF, OpenSslDeleter<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX_free>>;

Bytes encoded_point(const Key& key) {
  Bytes point(kPointSize);
  std::size_t length = 0;
  check(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(),
                                        point.size(), &length),
        "P-384 public point");
  if (length != kPointSize) throw CryptoError(CryptoErrc::bad_key, "P-384 point size");
  return point;
}

Key key_from_point(const Key& like, ByteView point) {
  EvpPkeyPtr peer(check_ptr(EVP_PKEY_new(), "EVP_PKEY_new"));
  check(EVP_PKEY_copy_parameters(peer.get(), like.get()), "copy P-384 parameters");
  if (EVP_PKEY_set1_encoded_public_key(peer.get(), point.data(), point.size()) != 1) {
    ERR_clear_error();
    throw CryptoError(CryptoErrc::unwrap_failed, "wrapped key: ephemeral point is not on P-384");
  }
  return Key::adopt(peer.release(), "ephemeral key");
}

Bytes ecdh(const Key& own_private, const Key& peer_public) {
  EvpPkeyCtxPtr ctx(check_ptr(EVP_PKEY_CTX_new_from_pkey(nullptr, own_private.get(), nullptr),
                              "EVP_PKEY_CTX_new"));
  check(EVP_PKEY_derive_init(ctx.get()), "ECDH init");
  check(EVP_PKEY_derive_set_peer(ctx.get(), peer_public.get()), "ECDH peer");
  std::size_t length = 0;
  check(EVP_PKEY_derive(ctx.get(), nullptr, &length), "ECDH size");
  Bytes shared(length);
  check(EVP_PKEY_derive(ctx.get(), shared.data(), &length), "ECDH");
  shared.resize(length);
  return shared;
}

Bytes hkdf_sha384(ByteView ikm, ByteView info, std::size_t length) {
  KdfPtr kdf(check_ptr(EVP_KDF_fetch(nullptr, "HKDF", nullptr), "HKDF fetch"));
  KdfCtxPtr ctx(check_ptr(EVP_KDF_CTX_new(kdf.get()), "HKDF context"));
  Bytes ikm_copy(ikm.begin(), ikm.end());
  Bytes info_copy(info.begin(), info.end());
  char digest[] = "SHA384";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm_copy.data(), ikm_copy.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_copy.data(), info_copy.size()),
      OSSL_PARAM_END};
  Bytes out(length);
  check(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params), "HKDF");
  secure_wipe(ikm_copy);
  return out;
}

Bytes derive_key(const Key& own_private, const Key& peer_public, ByteView ephemeral_point,
                 ByteView recipient_point) {
  Bytes shared = ecdh(own_private, peer_public);
  Bytes info(as_bytes(kInfoLabel).begin(), as_bytes(kInfoLabel).end());
  append(info, ephemeral_point);
  append(info, recipient_point);
  Bytes key = hkdf_sha384(shared, info, 32);
  secure_wipe(shared);
  return key;
}

}  // namespace

Bytes ecies_p384_wrap(const Key& recipient, ByteView secret, ByteView context) {
  require_suite(recipient, SuiteId::nist, "key-wrapping key");
  const Key ephemeral = Key::generate(SuiteId::nist);
  const Bytes ephemeral_point = encoded_point(ephemeral);
  Bytes key = derive_key(ephemeral, recipient, ephemeral_point, encoded_point(recipient));
  const Bytes nonce = random_bytes(kNonceSize);

  EvpCipherCtxPtr ctx(check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new"));
  check(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()),
        "GCM init");
  secure_wipe(key);
  int length = 0;
  if (!context.empty()) {
    check(EVP_EncryptUpdate(ctx.get(), nullptr, &length, context.data(),
                            static_cast<int>(context.size())),
          "GCM AAD");
  }
  Bytes out{kVersion};
  append(out, ephemeral_point);
  append(out, nonce);
  const std::size_t body = out.size();
  out.resize(body + secret.size() + kTagSize);
  check(EVP_EncryptUpdate(ctx.get(), out.data() + body, &length, secret.data(),
                          static_cast<int>(secret.size())),
        "GCM encrypt");
  check(EVP_EncryptFinal_ex(ctx.get(), out.data() + body + secret.size(), &length), "GCM final");
  check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                            out.data() + body + secret.size()),
        "GCM tag");
  return out;
}

Bytes ecies_p384_unwrap(const Key& recipient, ByteView wrapped, ByteView context) {
  require_suite(recipient, SuiteId::nist, "key-wrapping key");
  require_private(recipient, "key-wrapping key");
  constexpr std::size_t kOverhead = 1 + kPointSize + kNonceSize + kTagSize;
  if (wrapped.size() < kOverhead || wrapped[0] != kVersion) {
    throw CryptoError(
        CryptoErrc::unwrap_failed,
        fmt::format("wrapped key: {} bytes with version {}; expected at least {} "
                    "bytes and version {}",
                    wrapped.size(), wrapped.empty() ? 0 : wrapped[0], kOverhead, kVersion));
  }
  const ByteView point = wrapped.subspan(1, kPointSize);
  const ByteView nonce = wrapped.subspan(1 + kPointSize, kNonceSize);
  const ByteView ciphertext =
      wrapped.subspan(1 + kPointSize + kNonceSize, wrapped.size() - kOverhead);
  const ByteView tag = wrapped.last(kTagSize);

  const Key ephemeral = key_from_point(recipient, point);
  Bytes key = derive_key(recipient, ephemeral, point, encoded_point(recipient));
  EvpCipherCtxPtr ctx(check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new"));
  check(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()),
        "GCM init");
  secure_wipe(key);
  int length = 0;
  if (!context.empty()) {
    check(EVP_DecryptUpdate(ctx.get(), nullptr, &length, context.data(),
                            static_cast<int>(context.size())),
          "GCM AAD");
  }
  Bytes secret(ciphertext.size());
  check(EVP_DecryptUpdate(ctx.get(), secret.data(), &length, ciphertext.data(),
                          static_cast<int>(ciphertext.size())),
        "GCM decrypt");
  Bytes tag_copy(tag.begin(), tag.end());
  check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                            tag_copy.data()),
        "GCM tag");
  if (EVP_DecryptFinal_ex(ctx.get(), secret.data() + secret.size(), &length) != 1) {
    ERR_clear_error();
    secure_wipe(secret);
    throw CryptoError(CryptoErrc::unwrap_failed,
                      "wrapped key fails authentication: not for this key-wrapping key, "
                      "tampered, or made for a different purpose");
  }
  return secret;
}

}  // namespace cvmsim::crypto::detail
