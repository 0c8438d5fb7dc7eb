// The LUKS2 header writer and parser: round trip, token lookup, and refusal of damaged or
// malformed headers (checksum, magic, size, JSON).
#include "image/luks2.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "crypto/suite.h"
#include "image/base64.h"
#include "image/image_error.h"
#include "image/luks2_build.h"

namespace cvmsim::image {
namespace {

Luks2Volume sample_volume(std::size_t tokens) {
  Luks2Volume v;
  v.uuid = random_uuid();
  v.cipher = DiskCipher::aes_xts_plain64;
  v.sector_size = 512;
  v.header_size = kLuks2MinHeaderSize;
  v.data_offset = luks2_data_offset_for(v.header_size);
  v.data_length = 1 << 20;
  v.volume_key = crypto::random_bytes(64);
  for (std::size_t i = 0; i < tokens; ++i) {
    Bytes chip(16, static_cast<std::uint8_t>(i % 3));  // chips 0,1,2 repeat
    Bytes cert{static_cast<std::uint8_t>(i), 0xa5, 0x5a};
    v.tokens.push_back({chip, cert});
  }
  return v;
}

// Recomputes the primary copy's checksum after an edit, as an attacker would.
void reseal(Bytes& image, std::uint64_t header_size) {
  std::fill_n(image.begin() + 448, 64, 0);
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> sum{};
  SHA256(image.data(), header_size, sum.data());
  std::copy(sum.begin(), sum.end(), image.begin() + 448);
}

std::string refusal(const Bytes& bytes) {
  try {
    (void)parse_luks2_header(bytes, "disk.img");
  } catch (const ImageError& e) {
    EXPECT_EQ(e.code(), ImageErrc::bad_header);
    EXPECT_NE(std::string(e.what()).find("disk.img"), std::string::npos);
    return e.what();
  }
  ADD_FAILURE() << "the header was accepted";
  return {};
}

TEST(Luks2, BuildThenParseRoundTrips) {
  const Luks2Volume v = sample_volume(2);
  const Bytes headers = build_luks2_headers(v);
  ASSERT_EQ(headers.size(), 2 * v.header_size);
  const Luks2Header h = parse_luks2_header(headers, "disk.img");
  EXPECT_EQ(h.uuid, v.uuid);
  EXPECT_EQ(h.uuid_text, uuid_to_text(v.uuid));
  EXPECT_EQ(h.header_size, v.header_size);
  EXPECT_EQ(h.seqid, 1u);
  EXPECT_EQ(h.segment_cipher, "aes-xts-plain64");
  EXPECT_EQ(h.segment_sector_size, 512u);
  EXPECT_EQ(h.segment_offset, v.data_offset);
  EXPECT_EQ(h.metadata["config"]["json_size"], std::to_string(v.header_size - 4096));
  // The secondary copy parses too once its magic and offset are those of a primary.
  Bytes secondary(headers.begin() + static_cast<std::ptrdiff_t>(v.header_size), headers.end());
  EXPECT_EQ(std::string(secondary.begin(), secondary.begin() + 4), "SKUL");
  EXPECT_EQ(std::string(secondary.begin() + 4096, secondary.begin() + 4200),
            std::string(headers.begin() + 4096, headers.begin() + 4200));
}

TEST(Luks2, CertificatesForChipInTokenOrder) {
  const Luks2Volume v = sample_volume(12);  // ids 0..11: "10" sorts before "2" as text
  const Luks2Header h = parse_luks2_header(build_luks2_headers(v), "disk.img");
  const auto certs = certificates_for_chip(h, Bytes(16, 1));
  ASSERT_EQ(certs.size(), 4u);  // tokens 1, 4, 7, 10
  EXPECT_EQ(certs[0][0], 1);
  EXPECT_EQ(certs[1][0], 4);
  EXPECT_EQ(certs[2][0], 7);
  EXPECT_EQ(certs[3][0], 10);
  EXPECT_TRUE(certificates_for_chip(h, Bytes(16, 9)).empty());
}

TEST(Luks2, AMalformedTokenForAnotherChipDoesNotHideThisChipsToken) {
  // Tokens the host edited: only a token for the asked chip may make the lookup fail.
  const Luks2Volume v = sample_volume(2);  // token 0: chip 00.., token 1: chip 01..
  Luks2Header h = parse_luks2_header(build_luks2_headers(v), "disk.img");
  h.metadata["tokens"]["5"] = {{"type", kImageTokenType}, {"chip_id", 12345}};
  h.metadata["tokens"]["6"] = {
      {"type", kImageTokenType}, {"chip_id", to_hex(Bytes(16, 2))}, {"certificate", "%%"}};
  h.metadata["tokens"]["7"] = 42;
  h.metadata["tokens"]["8"] = {{"type", 7}, {"chip_id", to_hex(Bytes(16, 1))}};
  const auto certs = certificates_for_chip(h, Bytes(16, 1));
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(certs[0][0], 1);
  // This chip's own token with a certificate that is not base64 is refused by name.
  try {
    (void)certificates_for_chip(h, Bytes(16, 2));
    ADD_FAILURE() << "a non-base64 certificate was accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.code(), ImageErrc::bad_header);
    EXPECT_NE(std::string(e.what()).find("token 6"), std::string::npos) << e.what();
  }
}

TEST(Luks2, RefusesABadChecksum) {
  Bytes headers = build_luks2_headers(sample_volume(1));
  Bytes edited = headers;
  edited[4096 + 5] ^= 0x20;  // a byte of the JSON
  EXPECT_NE(refusal(edited).find("checksum"), std::string::npos);
  Bytes label = headers;
  label[30] ^= 1;
  EXPECT_NE(refusal(label).find("checksum"), std::string::npos);
}

TEST(Luks2, RefusesBadMagicAndVersion) {
  Bytes headers = build_luks2_headers(sample_volume(1));
  Bytes magic = headers;
  magic[4] = 0;
  EXPECT_NE(refusal(magic).find("magic"), std::string::npos);
  Bytes version = headers;
  version[7] = 1;
  reseal(version, kLuks2MinHeaderSize);
  EXPECT_NE(refusal(version).find("version"), std::string::npos);
}

TEST(Luks2, RefusesBadHeaderSizes) {
  const Bytes headers = build_luks2_headers(sample_volume(1));
  for (std::uint64_t size : {0ull, 4096ull, 8192ull, 20480ull, 8ull << 20, ~0ull}) {
    Bytes bad = headers;
    for (std::size_t i = 0; i < 8; ++i)
      bad[8 + i] = static_cast<std::uint8_t>(size >> (56 - 8 * i));
    EXPECT_NE(refusal(bad).find("hdr_size"), std::string::npos) << size;
  }
  // A legal size larger than the bytes present is refused as truncated.
  Bytes bigger = headers;
  ASSERT_EQ(bigger[14], 0x40);  // 16 KiB, big-endian
  bigger[14] = 0x80;            // claims 32 KiB
  bigger.resize(20000);
  EXPECT_NE(refusal(bigger).find("present"), std::string::npos);
  const Bytes cut(headers.begin(), headers.begin() + 100);
  EXPECT_NE(refusal(cut).find("shorter"), std::string::npos);
}

TEST(Luks2, RefusesNonJsonAndMissingObjectsEvenWithAValidChecksum) {
  const Bytes headers = build_luks2_headers(sample_volume(1));
  Bytes not_json = headers;
  const std::string junk = "this is not json";
  std::copy(junk.begin(), junk.end(), not_json.begin() + 4096);
  reseal(not_json, kLuks2MinHeaderSize);
  EXPECT_NE(refusal(not_json).find("not a JSON object"), std::string::npos);

  Bytes no_nul = headers;
  std::fill(no_nul.begin() + 4096, no_nul.begin() + kLuks2MinHeaderSize, ' ');
  reseal(no_nul, kLuks2MinHeaderSize);
  EXPECT_NE(refusal(no_nul).find("NUL"), std::string::npos);

  Bytes missing = headers;
  const std::string doc = R"({"keyslots":{},"tokens":{},"segments":{},"digests":{}})";
  std::fill(missing.begin() + 4096, missing.begin() + kLuks2MinHeaderSize, 0);
  std::copy(doc.begin(), doc.end(), missing.begin() + 4096);
  reseal(missing, kLuks2MinHeaderSize);
  EXPECT_NE(refusal(missing).find("\"config\""), std::string::npos);
}

TEST(Luks2, MetadataThatDoesNotFitIsRefusedAndFitsInALargerHeader) {
  Luks2Volume v = sample_volume(0);
  for (int i = 0; i < 32; ++i) v.tokens.push_back({Bytes(16, 7), crypto::random_bytes(600)});
  EXPECT_FALSE(luks2_metadata_fits(v));
  EXPECT_THROW((void)build_luks2_headers(v), ImageError);
  v.header_size = 64 * 1024;
  v.data_offset = luks2_data_offset_for(v.header_size);
  ASSERT_TRUE(luks2_metadata_fits(v));
  const Luks2Header h = parse_luks2_header(build_luks2_headers(v), "big.img");
  EXPECT_EQ(certificates_for_chip(h, Bytes(16, 7)).size(), 32u);
  v.tokens.push_back({Bytes(16, 8), Bytes{1}});
  EXPECT_THROW((void)build_luks2_headers(v), ImageError);  // 33 tokens: more than LUKS2 allows
}

TEST(Base64, RoundTripsAndIsStrict) {
  for (std::size_t n = 0; n < 40; ++n) {
    const Bytes data = crypto::random_bytes(n);
    const auto back = base64_decode(base64_encode(data));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, data);
  }
  EXPECT_EQ(base64_encode(as_bytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(as_bytes("fo")), "Zm8=");
  EXPECT_FALSE(base64_decode("Zm8").has_value());
  EXPECT_FALSE(base64_decode("Zm9=").has_value());  // unused bits set
  EXPECT_FALSE(base64_decode("Z=8=").has_value());
  EXPECT_FALSE(base64_decode("Zm 8").has_value());
}

TEST(Uuid, TextRoundTrip) {
  const auto uuid = random_uuid();
  const std::string text = uuid_to_text(uuid);
  EXPECT_EQ(text.size(), 36u);
  EXPECT_EQ(text[14], '4');
  EXPECT_EQ(uuid_from_text(text), uuid);
  EXPECT_FALSE(uuid_from_text("not-a-uuid").has_value());
  EXPECT_FALSE(uuid_from_text(text.substr(0, 35) + "g").has_value());
}

}  // namespace
}  // namespace cvmsim::image
