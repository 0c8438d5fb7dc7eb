// SM2: the GB/T 32918.5 examples, round trips, and refusals.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/hex.h"
#include "crypto/crypto_error.h"
#include "crypto/suite.h"
#include "support/vectors.h"

namespace cvmsim::crypto {
namespace {

const Suite& sm() {
  return suite(SuiteId::sm);
}

// Builds an SM2 key from the standard's numbers (test-only use of OpenSSL directly).
Key sm2_key_from_numbers(const std::string& private_hex, const std::string& x_hex,
                         const std::string& y_hex) {
  Bytes point{0x04};
  append(point, from_hex(x_hex));
  append(point, from_hex(y_hex));
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  BIGNUM* priv = nullptr;
  if (!private_hex.empty()) {
    BN_hex2bn(&priv, private_hex.c_str());
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv);
  }
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr);
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_fromdata_init(ctx);
  EVP_PKEY_fromdata(ctx, &pkey, private_hex.empty() ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR,
                    params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(priv);
  return Key::adopt(pkey, "GB/T 32918.5 example key");
}

Bytes der_signature(const std::string& r_hex, const std::string& s_hex) {
  // SEQUENCE { INTEGER r, INTEGER s } for 32-byte values with the top bit set.
  Bytes der{0x30, 0x46, 0x02, 0x21, 0x00};
  append(der, from_hex(r_hex));
  append(der, Bytes{0x02, 0x21, 0x00});
  append(der, from_hex(s_hex));
  return der;
}

TEST(Sm2, VerifiesTheStandardSignatureExample) {
  const auto v = test::select_vectors("crypto-vectors.txt", "Signature", "SM2").front();
  const Key pub = sm2_key_from_numbers("", v.at("PublicX"), v.at("PublicY"));
  ASSERT_EQ(pub.suite(), SuiteId::sm);
  EXPECT_FALSE(pub.has_private());
  Bytes signature = der_signature(v.at("R"), v.at("S"));
  const Bytes message = from_hex(v.at("Message"));
  EXPECT_TRUE(sm().verify(pub, message, signature));
  // The signature covers Z (which includes the default ID) and the message.
  Bytes other = message;
  other.back() ^= 1;
  EXPECT_FALSE(sm().verify(pub, other, signature));
  signature[10] ^= 0x40;
  EXPECT_FALSE(sm().verify(pub, message, signature));
}

TEST(Sm2, DecryptsTheStandardEncryptionExample) {
  const auto sig = test::select_vectors("crypto-vectors.txt", "Signature", "SM2").front();
  const auto v = test::select_vectors("crypto-vectors.txt", "Encryption", "SM2").front();
  const Key key = sm2_key_from_numbers(v.at("Private"), sig.at("PublicX"), sig.at("PublicY"));
  ASSERT_TRUE(key.has_private());
  const Bytes ciphertext = from_hex(v.at("Ciphertext"));
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr);
  ASSERT_EQ(EVP_PKEY_decrypt_init(ctx), 1);
  Bytes plain(ciphertext.size());
  std::size_t length = plain.size();
  ASSERT_EQ(EVP_PKEY_decrypt(ctx, plain.data(), &length, ciphertext.data(), ciphertext.size()), 1);
  EVP_PKEY_CTX_free(ctx);
  plain.resize(length);
  EXPECT_EQ(to_hex(plain), to_hex(from_hex(v.at("Plaintext"))));
}

TEST(Sm2, SignVerifyRoundTripAndWrongKey) {
  const Key key = sm().generate_key();
  const Key other = sm().generate_key();
  const Bytes message = random_bytes(333);
  const Bytes signature = sm().sign(key, message);
  EXPECT_TRUE(sm().verify(key.public_only(), message, signature));
  EXPECT_FALSE(sm().verify(other.public_only(), message, signature));
  EXPECT_FALSE(sm().verify(key, message, Bytes{0x30, 0x00}));
}

// OpenSSL's own SM2 verifier, given an explicit distinguishing ID as SM2(7) documents.
bool openssl_sm2_verify(const Key& key, std::string_view id, ByteView message, ByteView signature) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr);
  EVP_PKEY_CTX_set1_id(pctx, id.data(), static_cast<int>(id.size()));
  EVP_MD_CTX_set_pkey_ctx(md, pctx);
  const bool ok =
      EVP_DigestVerifyInit(md, nullptr, EVP_sm3(), nullptr, key.get()) == 1 &&
      EVP_DigestVerify(md, signature.data(), signature.size(), message.data(), message.size()) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_CTX_free(pctx);
  return ok;
}

TEST(Sm2, SignatureUsesTheStandardDefaultId) {
  const Key key = sm().generate_key();
  const Bytes message = random_bytes(64);
  const Bytes signature = sm().sign(key, message);
  EXPECT_TRUE(openssl_sm2_verify(key, "1234567812345678", message, signature));
  // The ID enters Z, so any other ID (including none) fails.
  EXPECT_FALSE(openssl_sm2_verify(key, "ALICE123@YAHOO.COM", message, signature));
  EXPECT_FALSE(openssl_sm2_verify(key, "", message, signature));
}

TEST(Sm2, WrapUnwrapRoundTripBindsContextAndKey) {
  const Key chip = sm().generate_key();
  const Bytes secret = random_bytes(32);
  const Bytes context = {'i', 'm', 'a', 'g', 'e'};
  const Bytes wrapped = sm().wrap(chip.public_only(), secret, context);
  EXPECT_EQ(sm().unwrap(chip, wrapped, context), secret);
  try {
    (void)sm().unwrap(chip, wrapped, Bytes{'x'});
    FAIL() << "context mismatch accepted";
  } catch (const CryptoError& e) {
    EXPECT_EQ(e.code(), CryptoErrc::unwrap_failed);
  }
  EXPECT_THROW((void)sm().unwrap(sm().generate_key(), wrapped, context), CryptoError);
  Bytes tampered = wrapped;
  tampered[tampered.size() - 1] ^= 1;
  EXPECT_THROW((void)sm().unwrap(chip, tampered, context), CryptoError);
  EXPECT_THROW((void)sm().unwrap(chip.public_only(), wrapped, context), CryptoError);
}

TEST(Sm2, RejectsKeysOfTheOtherSuite) {
  const Key p384 = suite(SuiteId::nist).generate_key();
  try {
    (void)sm().sign(p384, Bytes{1, 2, 3});
    FAIL() << "P-384 key accepted by the sm suite";
  } catch (const CryptoError& e) {
    EXPECT_EQ(e.code(), CryptoErrc::suite_mismatch);
  }
  EXPECT_FALSE(sm().verify(p384, Bytes{1}, Bytes{0x30, 0x00}));
}

TEST(Sm2, UnwrapSurvivesRandomAndTruncatedInput) {
  const Key chip = sm().generate_key();
  const Bytes wrapped = sm().wrap(chip.public_only(), random_bytes(32), {});
  for (std::size_t n = 0; n < wrapped.size(); n += 7) {
    EXPECT_THROW((void)sm().unwrap(chip, ByteView(wrapped).first(n), {}), CryptoError);
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_THROW((void)sm().unwrap(chip, random_bytes(static_cast<std::size_t>(i) * 5), {}),
                 CryptoError);
  }
}

}  // namespace
}  // namespace cvmsim::crypto
