// XTS: our SM4-XTS and AES-256-XTS against libgcrypt's (an independent implementation),
// and the properties the memory and disk models rely on.
#include <gcrypt.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "crypto/crypto_error.h"
#include "crypto/openssl_xts.h"
#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

Bytes gcrypt_xts(int algorithm, ByteView key, const Tweak& tweak, ByteView data, bool encrypt) {
  gcry_cipher_hd_t handle = nullptr;
  EXPECT_EQ(gcry_cipher_open(&handle, algorithm, GCRY_CIPHER_MODE_XTS, 0), 0u);
  EXPECT_EQ(gcry_cipher_setkey(handle, key.data(), key.size()), 0u);
  EXPECT_EQ(gcry_cipher_setiv(handle, tweak.data(), tweak.size()), 0u);
  Bytes out(data.size());
  const gcry_error_t rc =
      encrypt ? gcry_cipher_encrypt(handle, out.data(), out.size(), data.data(), data.size())
              : gcry_cipher_decrypt(handle, out.data(), out.size(), data.data(), data.size());
  EXPECT_EQ(rc, 0u);
  gcry_cipher_close(handle);
  return out;
}

Bytes gcrypt_sm4_xts(ByteView key, const Tweak& tweak, ByteView data, bool encrypt) {
  return gcrypt_xts(GCRY_CIPHER_SM4, key, tweak, data, encrypt);
}

class Sm4XtsCrossCheck : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Sm4XtsCrossCheck, MatchesLibgcryptOnRandomKeysTweaksAndData) {
  ASSERT_NE(gcry_check_version("1.10.0"), nullptr);
  const std::size_t unit = GetParam();
  std::mt19937_64 rng(unit);
  for (int round = 0; round < 40; ++round) {
    const Bytes key = random_bytes(32);
    Tweak tweak{};
    for (auto& b : tweak) b = static_cast<std::uint8_t>(rng());
    const Bytes plain = random_bytes(unit);
    for (const auto& xts : {make_openssl_sm4_xts(key), suite(SuiteId::sm).new_xts(key)}) {
      Bytes ours(unit);
      xts->encrypt_unit(tweak, plain, ours);
      ASSERT_EQ(ours, gcrypt_sm4_xts(key, tweak, plain, true)) << "unit " << unit;
      Bytes back(unit);
      xts->decrypt_unit(tweak, ours, back);
      ASSERT_EQ(back, plain);
      ASSERT_EQ(gcrypt_sm4_xts(key, tweak, ours, false), plain);
    }
  }
}

// 512 and 4096 are the sector sizes; the odd sizes exercise ciphertext stealing.
INSTANTIATE_TEST_SUITE_P(DataUnits, Sm4XtsCrossCheck,
                         ::testing::Values(16, 17, 31, 512, 527, 4096, 4111));

// AES-256-XTS in bulk: units below 2048 bytes go through the batched ECB path, larger ones
// through OpenSSL's native XTS; both must equal libgcrypt unit by unit, both ways, in place
// and out of place, with unit numbers whose tweaks use all eight bytes.
class AesXtsUnitsCrossCheck : public ::testing::TestWithParam<std::size_t> {};

TEST_P(AesXtsUnitsCrossCheck, MatchesLibgcryptUnitByUnit) {
  ASSERT_NE(gcry_check_version("1.10.0"), nullptr);
  const std::size_t unit = GetParam();
  std::mt19937_64 rng(unit);
  // 70 units: more than one batch of the driver at every size (at most 64 units per batch).
  const std::size_t count = 70;
  for (int round = 0; round < 4; ++round) {
    const Bytes key = random_bytes(64);
    const auto xts = suite(SuiteId::nist).new_xts(key);
    const std::uint64_t first = round == 0 ? 0 : rng();
    const std::uint64_t last = first + count - 1;
    if (last < first) continue;  // no wrap-around in this test
    const Bytes plain = random_bytes(unit * count);
    Bytes bulk(plain.size());
    xts->encrypt_units(first, unit, plain, bulk);
    for (std::size_t i = 0; i < count; ++i) {
      const ByteView cipher_unit = ByteView(bulk).subspan(i * unit, unit);
      const Bytes expected = gcrypt_xts(GCRY_CIPHER_AES256, key, plain64_tweak(first + i),
                                        ByteView(plain).subspan(i * unit, unit), true);
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), cipher_unit.begin()))
          << "unit size " << unit << ", unit " << i << " of first " << first;
    }
    Bytes in_place = bulk;
    xts->decrypt_units(first, unit, in_place, in_place);
    ASSERT_EQ(in_place, plain) << "unit size " << unit;
  }
}

INSTANTIATE_TEST_SUITE_P(DataUnits, AesXtsUnitsCrossCheck,
                         ::testing::Values(16, 17, 31, 512, 527, 1024, 2032, 2047, 2048, 4096,
                                           4111));

TEST(Xts, Plain64TweakIsLittleEndianUnitNumber) {
  const Tweak t = plain64_tweak(0x0102030405060708ull);
  EXPECT_EQ(t[0], 0x08);
  EXPECT_EQ(t[7], 0x01);
  for (std::size_t i = 8; i < 16; ++i) EXPECT_EQ(t[i], 0);
}

TEST(Xts, UnitsUseConsecutiveTweaks) {
  for (SuiteId id : {SuiteId::sm, SuiteId::nist}) {
    const auto xts = suite(id).new_xts(random_bytes(suite(id).xts_key_size()));
    const Bytes plain = random_bytes(4 * 512);
    Bytes bulk(plain.size());
    xts->encrypt_units(1000, 512, plain, bulk);
    for (std::size_t i = 0; i < 4; ++i) {
      Bytes single(512);
      xts->encrypt_unit(plain64_tweak(1000 + i), ByteView(plain).subspan(i * 512, 512), single);
      EXPECT_EQ(single, Bytes(bulk.begin() + static_cast<std::ptrdiff_t>(i * 512),
                              bulk.begin() + static_cast<std::ptrdiff_t>((i + 1) * 512)));
    }
    Bytes back(plain.size());
    xts->decrypt_units(1000, 512, bulk, back);
    EXPECT_EQ(back, plain);
    // Same plaintext at another unit number encrypts differently (address tweak).
    Bytes moved(plain.size());
    xts->encrypt_units(1001, 512, plain, moved);
    EXPECT_NE(moved, bulk);
  }
}

TEST(Xts, RefusesBadKeysAndLengths) {
  for (SuiteId id : {SuiteId::sm, SuiteId::nist}) {
    const std::size_t size = suite(id).xts_key_size();
    EXPECT_THROW((void)suite(id).new_xts(random_bytes(size - 1)), CryptoError);
    Bytes equal_halves(size, 0x5a);
    try {
      (void)suite(id).new_xts(equal_halves);
      FAIL() << "equal XTS key halves accepted";
    } catch (const CryptoError& e) {
      EXPECT_EQ(e.code(), CryptoErrc::bad_key);
    }
    const auto xts = suite(id).new_xts(random_bytes(size));
    Bytes small(15);
    EXPECT_THROW(xts->encrypt_unit(plain64_tweak(0), small, small), CryptoError);
    Bytes odd(1000);
    EXPECT_THROW(xts->encrypt_units(0, 512, odd, odd), CryptoError);
  }
}

}  // namespace
}  // namespace cvmsim::crypto
