// The nist suite: ECDSA P-384 and the ECIES key wrap.
#include <gtest/gtest.h>

#include "crypto/crypto_error.h"
#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

const Suite& nist() {
  return suite(SuiteId::nist);
}

TEST(Nist, SignVerifyRoundTrip) {
  const Key key = nist().generate_key();
  EXPECT_EQ(key.suite(), SuiteId::nist);
  const Bytes message = random_bytes(100);
  Bytes signature = nist().sign(key, message);
  EXPECT_TRUE(nist().verify(key.public_only(), message, signature));
  EXPECT_FALSE(nist().verify(nist().generate_key(), message, signature));
  Bytes other = message;
  other[0] ^= 1;
  EXPECT_FALSE(nist().verify(key, other, signature));
  signature[8] ^= 1;
  EXPECT_FALSE(nist().verify(key, message, signature));
  EXPECT_FALSE(nist().verify(suite(SuiteId::sm).generate_key(), message, signature));
}

TEST(Nist, EciesRoundTripAndLayout) {
  const Key kwk = nist().generate_key();
  const Bytes secret = random_bytes(64);
  const Bytes context = {1, 2, 3};
  const Bytes wrapped = nist().wrap(kwk.public_only(), secret, context);
  // version + point + nonce + ciphertext + tag (docs/formats.md).
  EXPECT_EQ(wrapped.size(), 1 + 97 + 12 + secret.size() + 16);
  EXPECT_EQ(wrapped[0], 1);
  EXPECT_EQ(wrapped[1], 0x04);
  EXPECT_EQ(nist().unwrap(kwk, wrapped, context), secret);
  // Two wraps of the same secret differ (fresh ephemeral key and nonce).
  EXPECT_NE(nist().wrap(kwk.public_only(), secret, context), wrapped);
}

TEST(Nist, EciesRefusesEveryTamperedByteWrongKeyAndContext) {
  const Key kwk = nist().generate_key();
  const Bytes wrapped = nist().wrap(kwk.public_only(), random_bytes(32), Bytes{'c'});
  for (std::size_t i = 0; i < wrapped.size(); ++i) {
    Bytes tampered = wrapped;
    tampered[i] ^= 0x01;
    EXPECT_THROW((void)nist().unwrap(kwk, tampered, Bytes{'c'}), CryptoError) << "byte " << i;
  }
  EXPECT_THROW((void)nist().unwrap(kwk, wrapped, Bytes{'d'}), CryptoError);
  EXPECT_THROW((void)nist().unwrap(nist().generate_key(), wrapped, Bytes{'c'}), CryptoError);
  for (std::size_t n = 0; n < wrapped.size(); n += 5) {
    EXPECT_THROW((void)nist().unwrap(kwk, ByteView(wrapped).first(n), Bytes{'c'}), CryptoError);
  }
}

}  // namespace
}  // namespace cvmsim::crypto
