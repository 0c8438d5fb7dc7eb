// Truncated, random and mutated input for the image parsers the host feeds: the LUKS2
// header, its tokens (through the PSP's lookup and `cvmsim inspect`'s description) and the
// boot-volume header. Each may only refuse with the module's own error (ImageError):
// never another exception (a JSON type error, std::out_of_range...) and never a crash.
// Fixed seeds: a failure reproduces.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>
#include <random>

#include "crypto/suite.h"
#include "image/boot_volume.h"
#include "image/describe.h"
#include "image/image_error.h"
#include "image/luks2.h"
#include "image/luks2_build.h"
#include "image/luks2_layout.h"

namespace cvmsim::image {
namespace {

namespace layout = luks2_layout;

Luks2Volume volume_with_tokens() {
  Luks2Volume v;
  v.uuid = random_uuid();
  v.header_size = kLuks2MinHeaderSize;
  v.data_offset = luks2_data_offset_for(v.header_size);
  v.data_length = 1 << 20;
  v.volume_key = Bytes(64, 7);
  v.tokens.push_back({Bytes(16, 1), Bytes{1, 2, 3}});
  v.tokens.push_back({Bytes(16, 2), Bytes(200, 9)});
  return v;
}

void reseal(Bytes& bytes, std::uint64_t header_size) {
  std::fill_n(bytes.begin() + layout::kChecksumOffset, layout::kChecksumSize, 0);
  SHA256(bytes.data(), header_size, bytes.data() + layout::kChecksumOffset);
}

// Replaces the JSON area with `text` (NUL-padded) and reseals: what a host can write.
Bytes with_json(Bytes bytes, const std::string& text, std::uint64_t header_size) {
  const auto area = bytes.begin() + static_cast<std::ptrdiff_t>(kLuks2BinaryHeaderSize);
  std::fill(area, bytes.begin() + static_cast<std::ptrdiff_t>(header_size), 0);
  std::copy_n(text.begin(), std::min<std::size_t>(text.size(), header_size - 4097), area);
  reseal(bytes, header_size);
  return bytes;
}

// Everything a host-supplied header goes through; only ImageError may come out.
void parse_everything(ByteView bytes) {
  try {
    const Luks2Header h = parse_luks2_header(bytes, "fuzz.img");
    (void)describe_image(h, "fuzz.img");
    for (std::uint8_t chip = 0; chip < 3; ++chip) {
      try {
        (void)certificates_for_chip(h, Bytes(16, chip));
      } catch (const ImageError& e) {
        EXPECT_EQ(e.code(), ImageErrc::bad_header);
      }
    }
  } catch (const ImageError& e) {
    EXPECT_EQ(e.code(), ImageErrc::bad_header);
    EXPECT_NE(std::string(e.what()).find("fuzz.img"), std::string::npos) << e.what();
  }
  // Any other exception escapes the test body and fails it, naming its type.
}

TEST(ParserFuzz, Luks2HeaderTruncatedAtEveryLength) {
  const Luks2Volume v = volume_with_tokens();
  const Bytes headers = build_luks2_headers(v);
  for (std::size_t n = 0; n <= v.header_size; ++n) {
    parse_everything(ByteView(headers).first(n));
  }
  // A header whose JSON was cut (and resealed) at every length of its text.
  const std::string text = luks2_metadata_text(v);
  for (std::size_t n = 0; n < text.size(); n += 3) {
    parse_everything(with_json(headers, text.substr(0, n), v.header_size));
  }
}

TEST(ParserFuzz, Luks2HeaderRandomBytesAndMutations) {
  std::mt19937_64 rng(17);
  const Luks2Volume v = volume_with_tokens();
  const Bytes headers = build_luks2_headers(v);
  for (int round = 0; round < 300; ++round) {
    Bytes noise(std::uniform_int_distribution<std::size_t>(0, 3 * v.header_size)(rng));
    for (auto& b : noise) b = static_cast<std::uint8_t>(rng());
    if (round % 2 == 0 && noise.size() >= 6) {
      std::copy(layout::kMagicPrimary.begin(), layout::kMagicPrimary.end(), noise.begin());
    }
    parse_everything(noise);
  }
  for (int round = 0; round < 2000; ++round) {
    Bytes m = headers;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) {
      // Mostly the binary header and the start of the JSON, where the fields are.
      const std::size_t span = rng() % 4 == 0 ? v.header_size : 4096 + 1024;
      m[rng() % span] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    }
    if (round % 4 != 0) reseal(m, v.header_size);  // past the checksum, most of the time
    parse_everything(m);
  }
}

// A random JSON value of any type, nested up to `depth`.
nlohmann::json random_json(std::mt19937_64& rng, int depth) {
  switch (rng() % (depth > 0 ? 9 : 7)) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<std::int64_t>(rng() % 100000) - 50000;
    case 3:
      return 0.5;
    case 4:
      return std::string(kImageTokenType);
    case 5:
      return std::string(32, "0123456789abcdef"[rng() % 16]);
    case 6:
      return std::string("AQID");  // base64 of 01 02 03
    case 7: {
      nlohmann::json a = nlohmann::json::array();
      for (std::uint64_t i = 0; i < rng() % 3; ++i) a.push_back(random_json(rng, depth - 1));
      return a;
    }
    default: {
      nlohmann::json o = nlohmann::json::object();
      for (const char* key : {"type", "chip_id", "certificate", "keyslots"}) {
        if (rng() % 3 != 0) o[key] = random_json(rng, depth - 1);
      }
      return o;
    }
  }
}

TEST(ParserFuzz, Luks2TokensOfEveryJsonType) {
  std::mt19937_64 rng(1717);
  const Luks2Volume v = volume_with_tokens();
  const Bytes headers = build_luks2_headers(v);
  const nlohmann::json metadata = nlohmann::json::parse(luks2_metadata_text(v));
  for (int round = 0; round < 1500; ++round) {
    nlohmann::json m = metadata;
    switch (round % 4) {
      case 0:  // a whole token replaced
        m["tokens"][std::to_string(rng() % 4)] = random_json(rng, 2);
        break;
      case 1:  // one field of a token
        m["tokens"]["0"][std::vector<const char*>{"type", "chip_id", "certificate"}[rng() % 3]] =
            random_json(rng, 2);
        break;
      case 2:  // the segment the description shows
        m["segments"]["0"][std::vector<const char*>{
            "size", "offset", "encryption", "sector_size"}[rng() % 4]] = random_json(rng, 2);
        break;
      default:  // "tokens" or "segments" themselves
        m[rng() % 2 == 0 ? "tokens" : "segments"] = random_json(rng, 2);
        break;
    }
    parse_everything(with_json(headers, m.dump(), v.header_size));
  }
}

BootVolumeHeader sample_boot_header() {
  BootVolumeHeader h;
  h.kernel_offset = kBootBlock;
  h.kernel_size = 3000;
  h.data_offset = 2 * kBootBlock;
  h.data_size = 4 * kBootBlock;
  h.files.push_back({"motd", 3 * kBootBlock, 100});
  h.files.push_back({"data", 4 * kBootBlock, 4000});
  return h;
}

void decode_boot(ByteView block, std::uint64_t volume_size) {
  try {
    (void)BootVolumeHeader::decode(block, volume_size, "fuzz.raw");
  } catch (const ImageError& e) {
    EXPECT_EQ(e.code(), ImageErrc::bad_input);
    EXPECT_NE(std::string(e.what()).find("fuzz.raw"), std::string::npos) << e.what();
  }
}

TEST(ParserFuzz, BootVolumeHeaderTruncatedRandomAndMutated) {
  const std::uint64_t volume_size = 6 * kBootBlock;
  const Bytes block = sample_boot_header().encode();
  ASSERT_NO_THROW((void)BootVolumeHeader::decode(block, volume_size, "fuzz.raw"));
  for (std::size_t n = 0; n <= block.size(); ++n) {
    decode_boot(ByteView(block).first(n), volume_size);
  }
  std::mt19937_64 rng(4096);
  for (int round = 0; round < 3000; ++round) {
    Bytes m = block;
    if (round % 10 == 0) {
      for (auto& b : m) b = static_cast<std::uint8_t>(rng());
    } else {
      for (std::uint64_t i = 0; i < 1 + rng() % 6; ++i) {
        // The fixed fields and the first file entries carry the meaning.
        m[rng() % 512] = static_cast<std::uint8_t>(rng());
      }
    }
    decode_boot(m, round % 3 == 0 ? rng() % (1ull << 40) : volume_size);
  }
}

}  // namespace
}  // namespace cvmsim::image
