// The CVMSICRT image certificate: round trips, structural refusals, signature and wrap
// binding.
#include "image/image_cert.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/crypto_error.h"
#include "crypto/suite.h"
#include "image/image_error.h"

namespace cvmsim::image {
namespace {

using crypto::SuiteId;

struct Issued {
  crypto::Key provider;
  crypto::Key wrapping;
  Bytes image_key;
  ImageCertificate cert;
};

Issued issue(SuiteId suite, std::size_t measurements = 2) {
  const crypto::Suite& s = crypto::suite(suite);
  Issued out{s.generate_key(), s.generate_key(), crypto::random_bytes(s.xts_key_size()), {}};
  ImageCertificate fields;
  fields.suite = suite;
  fields.cipher = disk_cipher_for(suite);
  fields.key_bits = key_bits_for(fields.cipher);
  fields.sector_size = suite == SuiteId::sm ? 4096 : 512;
  for (std::size_t i = 0; i < kUuidSize; ++i) fields.image_uuid[i] = static_cast<std::uint8_t>(i);
  fields.data_offset = 1 << 20;
  fields.data_length = 64 * fields.sector_size;
  fields.chip_id = crypto::random_bytes(kCertChipIdSize);
  for (std::size_t i = 0; i < measurements; ++i) {
    fields.allowed_measurements.push_back(crypto::random_bytes(s.digest_size()));
  }
  out.cert =
      issue_image_certificate(fields, out.image_key, out.wrapping.public_only(), out.provider);
  return out;
}

// Offsets of the fixed fields (docs/formats.md "Image certificate").
constexpr std::size_t kCipherAt = 11;
constexpr std::size_t kKeyBitsAt = 12;
constexpr std::size_t kSectorAt = 16;
constexpr std::size_t kIvAt = 20;
constexpr std::size_t kOffsetAt = 40;
constexpr std::size_t kLengthAt = 48;

void put_le(Bytes& b, std::size_t at, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::string refusal(const Bytes& bytes) {
  try {
    (void)ImageCertificate::decode(bytes, "cert.bin");
  } catch (const ImageError& e) {
    EXPECT_EQ(e.code(), ImageErrc::bad_certificate);
    return e.what();
  }
  ADD_FAILURE() << "decode accepted the bytes";
  return {};
}

class ImageCert : public ::testing::TestWithParam<SuiteId> {};

TEST_P(ImageCert, RoundTripsAndVerifies) {
  const Issued i = issue(GetParam());
  const Bytes encoded = i.cert.encode();
  const ImageCertificate back = ImageCertificate::decode(encoded, "cert.bin");
  EXPECT_EQ(back.encode(), encoded);
  EXPECT_EQ(back.suite, GetParam());
  EXPECT_EQ(back.cipher, disk_cipher_for(GetParam()));
  EXPECT_EQ(back.data_offset, i.cert.data_offset);
  EXPECT_EQ(back.data_sectors(), 64u);
  EXPECT_EQ(back.allowed_measurements, i.cert.allowed_measurements);
  EXPECT_EQ(back.provider_key, i.provider.public_der());
  EXPECT_TRUE(back.signature_valid());
  // The chip's private key recovers the image key, and only with this certificate's context.
  const crypto::Suite& s = crypto::suite(GetParam());
  EXPECT_EQ(s.unwrap(i.wrapping, back.wrapped_key, image_key_context(back)), i.image_key);
  ImageCertificate other_chip = back;
  other_chip.chip_id[0] ^= 1;
  EXPECT_THROW((void)s.unwrap(i.wrapping, back.wrapped_key, image_key_context(other_chip)),
               crypto::CryptoError);
  ImageCertificate other_image = back;
  other_image.image_uuid[3] ^= 1;
  EXPECT_THROW((void)s.unwrap(i.wrapping, back.wrapped_key, image_key_context(other_image)),
               crypto::CryptoError);
}

TEST_P(ImageCert, EmptyMeasurementListMeansAny) {
  const Issued i = issue(GetParam(), 0);
  const ImageCertificate back = ImageCertificate::decode(i.cert.encode(), "c");
  EXPECT_TRUE(back.allowed_measurements.empty());
  EXPECT_TRUE(back.signature_valid());
}

TEST_P(ImageCert, RefusesTruncationAtEveryLength) {
  const Bytes encoded = issue(GetParam()).cert.encode();
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    const Bytes cut(encoded.begin(), encoded.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW((void)ImageCertificate::decode(cut, "cut"), ImageError) << "length " << n;
  }
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_NE(refusal(longer).find("trailing"), std::string::npos);
}

TEST_P(ImageCert, EveryChangedByteFailsDecodeOrSignature) {
  const Bytes encoded = issue(GetParam()).cert.encode();
  for (std::size_t at = 0; at < encoded.size(); ++at) {
    Bytes changed = encoded;
    changed[at] ^= 0x01;
    try {
      const ImageCertificate cert = ImageCertificate::decode(changed, "changed");
      EXPECT_FALSE(cert.signature_valid()) << "a flipped bit at offset " << at << " verified";
    } catch (const ImageError&) {
      // refused structurally: also fine
    }
  }
}

TEST_P(ImageCert, RefusesNullAndUnknownCiphers) {
  const Bytes encoded = issue(GetParam()).cert.encode();
  Bytes null_cipher = encoded;
  null_cipher[kCipherAt] = 0;
  const std::string msg = refusal(null_cipher);
  EXPECT_NE(msg.find("cipher_null"), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset 11"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cert.bin"), std::string::npos) << msg;
  for (int v : {3, 0x7f, 0xff}) {
    Bytes unknown = encoded;
    unknown[kCipherAt] = static_cast<std::uint8_t>(v);
    EXPECT_NE(refusal(unknown).find("'cipher'"), std::string::npos);
  }
}

TEST_P(ImageCert, RefusesCipherOfTheOtherSuiteAndWrongKeySize) {
  const Bytes encoded = issue(GetParam()).cert.encode();
  Bytes swapped = encoded;
  swapped[kCipherAt] = GetParam() == SuiteId::sm ? 2 : 1;
  EXPECT_NE(refusal(swapped).find("does not belong to suite"), std::string::npos);
  for (const std::uint16_t bits :
       std::initializer_list<std::uint16_t>{0, 128, 256, 384, 512, 1024}) {
    if (bits == key_bits_for(disk_cipher_for(GetParam()))) continue;
    Bytes wrong = encoded;
    put_le(wrong, kKeyBitsAt, bits, 2);
    EXPECT_NE(refusal(wrong).find("'key_bits'"), std::string::npos) << bits;
  }
  // Issuing refuses a wrong combination too.
  const crypto::Suite& s = crypto::suite(GetParam());
  ImageCertificate fields = issue(GetParam()).cert;
  fields.key_bits = 128;
  EXPECT_THROW((void)issue_image_certificate(fields, crypto::random_bytes(s.xts_key_size()),
                                             s.generate_key(), s.generate_key()),
               ImageError);
}

TEST_P(ImageCert, RefusesBadSectorSizesIvSchemesAndGeometry) {
  const Bytes encoded = issue(GetParam()).cert.encode();
  for (std::uint32_t size : {0u, 256u, 1024u, 2048u, 8192u, 4097u}) {
    Bytes bad = encoded;
    put_le(bad, kSectorAt, size, 4);
    EXPECT_NE(refusal(bad).find("'sector_size'"), std::string::npos) << size;
  }
  for (const std::uint8_t iv : std::initializer_list<std::uint8_t>{0, 2, 0xff}) {
    Bytes bad = encoded;
    bad[kIvAt] = iv;
    EXPECT_NE(refusal(bad).find("'iv_scheme'"), std::string::npos);
  }
  Bytes misaligned = encoded;
  put_le(misaligned, kOffsetAt, (1 << 20) + 512, 8);
  EXPECT_NE(refusal(misaligned).find("'data_offset'"), std::string::npos);
  Bytes empty = encoded;
  put_le(empty, kLengthAt, 0, 8);
  EXPECT_NE(refusal(empty).find("'data_length'"), std::string::npos);
  Bytes partial = encoded;
  put_le(partial, kLengthAt, 64 * 4096 + 16, 8);
  EXPECT_NE(refusal(partial).find("'data_length'"), std::string::npos);
  Bytes overflow = encoded;
  put_le(overflow, kOffsetAt, 0xfffffffffffff000ull, 8);
  EXPECT_NE(refusal(overflow).find("overflows"), std::string::npos);
  Bytes reserved = encoded;
  reserved[14] = 1;
  EXPECT_NE(refusal(reserved).find("'reserved'"), std::string::npos);
  Bytes magic = encoded;
  magic[0] = 'X';
  EXPECT_NE(refusal(magic).find("'magic'"), std::string::npos);
  Bytes version = encoded;
  version[8] = 3;  // 1 and 2 exist
  EXPECT_NE(refusal(version).find("'version'"), std::string::npos);
}

TEST_P(ImageCert, RefusesRandomBytes) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(GetParam()) * 7919);
  for (int trial = 0; trial < 300; ++trial) {
    Bytes junk(static_cast<std::size_t>(rng() % 600));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (trial % 2 == 0 && junk.size() >= 8) std::copy_n("CVMSICRT", 8, junk.begin());
    EXPECT_THROW((void)ImageCertificate::decode(junk, "junk"), ImageError);
  }
}

TEST_P(ImageCert, SignatureByAnotherProviderDoesNotVerify) {
  Issued i = issue(GetParam());
  const crypto::Suite& s = crypto::suite(GetParam());
  ImageCertificate forged = i.cert;
  forged.provider_key = s.generate_key().public_der();  // someone else's key, old signature
  EXPECT_FALSE(ImageCertificate::decode(forged.encode(), "f").signature_valid());
}

INSTANTIATE_TEST_SUITE_P(Suites, ImageCert, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::image
