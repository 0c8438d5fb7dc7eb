// Published known-answer vectors (tests/data/crypto-vectors.txt) through our suites.
#include "support/vectors.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "crypto/openssl_xts.h"
#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

using test::select_vectors;

TEST(KnownAnswer, Sm3StandardExamples) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Digest", "SM3")) {
    EXPECT_EQ(to_hex(suite(SuiteId::sm).hash(from_hex(v.at("Input")))),
              to_hex(from_hex(v.at("Output"))));
  }
}

TEST(KnownAnswer, Sha384Abc) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Digest", "SHA384")) {
    EXPECT_EQ(to_hex(suite(SuiteId::nist).hash(from_hex(v.at("Input")))),
              to_hex(from_hex(v.at("Output"))));
  }
}

TEST(KnownAnswer, IncrementalHashEqualsOneShot) {
  for (SuiteId id : {SuiteId::sm, SuiteId::nist}) {
    const Bytes data = random_bytes(1000);
    auto ctx = suite(id).new_hash();
    ctx->update(ByteView(data).first(1));
    ctx->update(ByteView(data).subspan(1, 600));
    ctx->update(ByteView(data).subspan(601));
    EXPECT_EQ(ctx->finish(), suite(id).hash(data));
  }
}

// The SM4 block cipher under our SM4-XTS is OpenSSL's; the standard examples pin it down.
Bytes sm4_ecb(ByteView key, ByteView block, int iterations) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_sm4_ecb(), nullptr, key.data(), nullptr), 1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  Bytes state(block.begin(), block.end());
  int written = 0;
  for (int i = 0; i < iterations; ++i) {
    EVP_EncryptUpdate(ctx, state.data(), &written, state.data(), 16);
  }
  EVP_CIPHER_CTX_free(ctx);
  return state;
}

TEST(KnownAnswer, Sm4StandardExamples) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "SM4-ECB")) {
    EXPECT_EQ(to_hex(sm4_ecb(from_hex(v.at("Key")), from_hex(v.at("Plaintext")), 1)),
              to_hex(from_hex(v.at("Ciphertext"))));
  }
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "SM4-ECB-1000000")) {
    EXPECT_EQ(to_hex(sm4_ecb(from_hex(v.at("Key")), from_hex(v.at("Plaintext")), 1000000)),
              to_hex(from_hex(v.at("Ciphertext"))));
  }
}

void check_xts_vector(const XtsCipher& xts, const test::VectorBlock& v) {
  const Bytes iv = from_hex(v.at("IV"));
  Tweak tweak{};
  std::copy(iv.begin(), iv.end(), tweak.begin());
  const Bytes plain = from_hex(v.at("Plaintext"));
  const Bytes expected = from_hex(v.at("Ciphertext"));
  Bytes out(plain.size());
  xts.encrypt_unit(tweak, plain, out);
  EXPECT_EQ(to_hex(out), to_hex(expected));
  Bytes back(out.size());
  xts.decrypt_unit(tweak, out, back);
  EXPECT_EQ(back, plain);
  // In place, as the disk controller does it.
  xts.encrypt_unit(tweak, back, back);
  EXPECT_EQ(back, expected);
}

TEST(KnownAnswer, Sm4XtsIeee1619Tweak) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "SM4-XTS")) {
    const Bytes key = from_hex(v.at("Key"));
    check_xts_vector(*make_openssl_sm4_xts(key), v);
    check_xts_vector(*suite(SuiteId::sm).new_xts(key), v);
  }
}

TEST(KnownAnswer, AesXtsIeee1619Vector10) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "AES-256-XTS")) {
    check_xts_vector(*suite(SuiteId::nist).new_xts(from_hex(v.at("Key"))), v);
  }
}

TEST(KnownAnswer, AesXtsVector10ThroughPlain64Units) {
  // Vector 10's IV is the plain64 tweak of data unit 0xff.
  const auto v = select_vectors("crypto-vectors.txt", "Cipher", "AES-256-XTS").front();
  const Bytes plain = from_hex(v.at("Plaintext"));
  Bytes out(plain.size());
  suite(SuiteId::nist).new_xts(from_hex(v.at("Key")))->encrypt_units(0xff, 512, plain, out);
  EXPECT_EQ(to_hex(out), to_hex(from_hex(v.at("Ciphertext"))));
}

}  // namespace
}  // namespace cvmsim::crypto
