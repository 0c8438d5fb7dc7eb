// Key parsing and serialisation: PEM and DER, private and public, bad input.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>

#include "crypto/crypto_error.h"
#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

class KeyForSuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(KeyForSuite, PemAndDerRoundTrips) {
  const Key key = Key::generate(GetParam());
  EXPECT_TRUE(key.has_private());
  const Key from_private_pem = Key::parse(as_bytes(key.private_pem()), "test");
  EXPECT_TRUE(from_private_pem.has_private());
  EXPECT_EQ(from_private_pem.suite(), GetParam());
  EXPECT_EQ(from_private_pem.public_der(), key.public_der());

  const Key from_public_pem = Key::parse(as_bytes(key.public_pem()), "test");
  EXPECT_FALSE(from_public_pem.has_private());
  EXPECT_EQ(from_public_pem.public_der(), key.public_der());

  const Key from_der = Key::parse(key.public_der(), "test");
  EXPECT_FALSE(from_der.has_private());
  EXPECT_EQ(from_der.suite(), GetParam());
  EXPECT_THROW((void)from_der.private_pem(), CryptoError);

  // A signature made with the reloaded private key verifies with the original public key.
  const Bytes message = {1, 2, 3};
  EXPECT_TRUE(
      suite(GetParam())
          .verify(key.public_only(), message, suite(GetParam()).sign(from_private_pem, message)));
}

INSTANTIATE_TEST_SUITE_P(Suites, KeyForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(Key, RefusesOtherCurvesNamingTheSource) {
  EVP_PKEY* p256 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  try {
    (void)Key::adopt(p256, "vendor/root.key");
    FAIL() << "P-256 accepted";
  } catch (const CryptoError& e) {
    EXPECT_EQ(e.code(), CryptoErrc::bad_key);
    EXPECT_NE(std::string(e.what()).find("vendor/root.key"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("prime256v1"), std::string::npos) << e.what();
  }
}

TEST(Key, ParseSurvivesGarbageAndTruncation) {
  const std::string pem = Key::generate(SuiteId::sm).private_pem();
  for (std::size_t n = 0; n + 1 < pem.size(); n += 13) {
    EXPECT_THROW((void)Key::parse(as_bytes(std::string_view(pem).substr(0, n)), "t"), CryptoError);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    Bytes junk(static_cast<std::size_t>(rng() % 300));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    EXPECT_THROW((void)Key::parse(junk, "junk"), CryptoError);
  }
}

TEST(SuiteId, ParsesNamesAndBytes) {
  EXPECT_EQ(parse_suite("sm"), SuiteId::sm);
  EXPECT_EQ(parse_suite("nist"), SuiteId::nist);
  EXPECT_THROW((void)parse_suite("SM"), CryptoError);
  EXPECT_EQ(suite_from_byte(2, "x"), SuiteId::nist);
  EXPECT_THROW((void)suite_from_byte(0, "x"), CryptoError);
  EXPECT_EQ(suite(SuiteId::sm).digest_size(), 32u);
  EXPECT_EQ(suite(SuiteId::nist).digest_size(), 48u);
}

}  // namespace
}  // namespace cvmsim::crypto
