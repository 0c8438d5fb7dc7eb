#include "image/luks2_build.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/hex.h"
#include "crypto/crypto_error.h"
#include "crypto/sector_tags.h"
#include "crypto/suite.h"
#include "image/base64.h"
#include "image/image_error.h"
#include "image/luks2_layout.h"

namespace cvmsim::image {
namespace {

using json = nlohmann::json;
using namespace luks2_layout;

constexpr std::size_t kDigestSaltSize = 32;

Bytes pbkdf2_sha256(ByteView password, ByteView salt, std::uint32_t iterations) {
  Bytes out(SHA256_DIGEST_LENGTH);
  if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(password.data()),  // NOLINT
                        static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    throw crypto::CryptoError(crypto::CryptoErrc::library, "PBKDF2-SHA256 failed");
  }
  return out;
}

void put_be64(MutableByteView out, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) out[at + i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

void put_text(MutableByteView out, std::size_t at, std::string_view text, std::size_t width) {
  if (text.size() >= width) {
    throw ImageError(ImageErrc::bad_input,
                     fmt::format("LUKS2 header text '{}' does not fit {} bytes", text, width));
  }
  std::copy(text.begin(), text.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
}

// One header copy: binary header at `hdr_offset`, the JSON area, and the checksum over
// both with the checksum field zeroed.
void write_copy(MutableByteView copy, const Luks2Volume& volume, std::uint64_t hdr_offset,
                std::string_view metadata) {
  const bool primary = hdr_offset == 0;
  const std::string_view magic = primary ? kMagicPrimary : kMagicSecondary;
  std::copy(magic.begin(), magic.end(), copy.begin());
  copy[kVersionOffset] = 0;
  copy[kVersionOffset + 1] = 2;
  put_be64(copy, kHeaderSizeOffset, volume.header_size);
  put_be64(copy, kSeqidOffset, 1);
  put_text(copy, kLabelOffset, "cvmsim", kLabelSize);
  put_text(copy, kChecksumAlgOffset, "sha256", kChecksumAlgSize);
  const Bytes salt = crypto::random_bytes(kSaltSize);
  std::copy(salt.begin(), salt.end(), copy.begin() + kSaltOffset);
  put_text(copy, kUuidOffset, uuid_to_text(volume.uuid), kUuidTextSize);
  put_be64(copy, kHdrOffsetOffset, hdr_offset);
  std::copy(metadata.begin(), metadata.end(),
            copy.begin() + static_cast<std::ptrdiff_t>(kLuks2BinaryHeaderSize));
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> checksum{};
  SHA256(copy.data(), copy.size(), checksum.data());
  std::copy(checksum.begin(), checksum.end(), copy.begin() + kChecksumOffset);
}

}  // namespace

std::uint64_t luks2_data_offset_for(std::uint64_t header_size) {
  const std::uint64_t needed = 2 * header_size + kLuks2MinKeyslotsSize;
  return (needed + kLuks2DataAlignment - 1) / kLuks2DataAlignment * kLuks2DataAlignment;
}

std::string luks2_metadata_text(const Luks2Volume& volume) {
  const Bytes digest_salt = crypto::random_bytes(kDigestSaltSize);
  json tokens = json::object();
  for (std::size_t i = 0; i < volume.tokens.size(); ++i) {
    tokens[std::to_string(i)] = {{"type", kImageTokenType},
                                 {"keyslots", json::array()},
                                 {"chip_id", to_hex(volume.tokens[i].chip_id)},
                                 {"certificate", base64_encode(volume.tokens[i].certificate)}};
  }
  if (volume.tag_area) {
    tokens[std::to_string(volume.tokens.size())] = {
        {"type", kSectorTagsTokenType},
        {"keyslots", json::array()},
        {"offset", std::to_string(volume.tag_area->offset)},
        {"size", std::to_string(volume.tag_area->size)},
        {"tag_size", crypto::kSectorTagSize},
        {"mac", volume.tag_area->mac}};
  }
  const json metadata = {
      {"keyslots", json::object()},
      {"tokens", tokens},
      {"segments",
       {{"0",
         {{"type", "crypt"},
          {"offset", std::to_string(volume.data_offset)},
          {"size", std::to_string(volume.data_length)},
          {"iv_tweak", "0"},
          {"encryption", to_string(volume.cipher)},
          {"sector_size", volume.sector_size}}}}},
      {"digests",
       {{"0",
         {{"type", "pbkdf2"},
          {"keyslots", json::array()},
          {"segments", json::array({"0"})},
          {"hash", "sha256"},
          {"iterations", kLuks2DigestIterations},
          {"salt", base64_encode(digest_salt)},
          {"digest", base64_encode(pbkdf2_sha256(volume.volume_key, digest_salt,
                                                 kLuks2DigestIterations))}}}}},
      {"config",
       {{"json_size", std::to_string(volume.header_size - kLuks2BinaryHeaderSize)},
        {"keyslots_size", std::to_string(volume.data_offset - 2 * volume.header_size)}}}};
  return metadata.dump();
}

bool luks2_metadata_fits(const Luks2Volume& volume) {
  // The digest's salt is random but of fixed length, so the size is stable.
  return luks2_metadata_text(volume).size() < volume.header_size - kLuks2BinaryHeaderSize;
}

Bytes build_luks2_headers(const Luks2Volume& volume) {
  const std::uint64_t hs = volume.header_size;
  if (hs < kLuks2MinHeaderSize || hs > kLuks2MaxHeaderSize || (hs & (hs - 1)) != 0) {
    throw ImageError(
        ImageErrc::bad_input,
        fmt::format("LUKS2 header size {} is not a power of two in 16 KiB..4 MiB", hs));
  }
  if (volume.data_offset < luks2_data_offset_for(hs) ||
      volume.data_offset % kLuks2DataAlignment != 0) {
    throw ImageError(ImageErrc::bad_input,
                     fmt::format("data offset {} leaves no room for two {}-byte headers and "
                                 "the keyslots area",
                                 volume.data_offset, hs));
  }
  if (volume.tokens.size() + (volume.tag_area ? 1 : 0) > kLuks2MaxTokens) {
    throw ImageError(ImageErrc::bad_input,
                     fmt::format("{} chips{}: LUKS2 holds at most {} tokens", volume.tokens.size(),
                                 volume.tag_area ? " and the tag area" : "", kLuks2MaxTokens));
  }
  const std::string metadata = luks2_metadata_text(volume);
  if (metadata.size() >= hs - kLuks2BinaryHeaderSize) {
    throw ImageError(ImageErrc::bad_input,
                     fmt::format("LUKS2 metadata of {} bytes does not fit a {}-byte JSON area",
                                 metadata.size(), hs - kLuks2BinaryHeaderSize));
  }
  Bytes out(2 * hs, 0);
  write_copy(MutableByteView(out).first(hs), volume, 0, metadata);
  write_copy(MutableByteView(out).subspan(hs, hs), volume, hs, metadata);
  return out;
}

std::array<std::uint8_t, kUuidSize> random_uuid() {
  const Bytes random = crypto::random_bytes(kUuidSize);
  std::array<std::uint8_t, kUuidSize> uuid{};
  std::copy(random.begin(), random.end(), uuid.begin());
  uuid[6] = static_cast<std::uint8_t>((uuid[6] & 0x0f) | 0x40);  // version 4
  uuid[8] = static_cast<std::uint8_t>((uuid[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return uuid;
}

std::string uuid_to_text(const std::array<std::uint8_t, kUuidSize>& uuid) {
  const std::string hex = to_hex(uuid);
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                     hex.substr(16, 4), hex.substr(20));
}

std::optional<std::array<std::uint8_t, kUuidSize>> uuid_from_text(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::string hex;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position != (text[i] == '-')) return std::nullopt;
    if (!dash_position) {
      if (!std::isxdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      hex.push_back(text[i]);
    }
  }
  const Bytes bytes = from_hex(hex, "LUKS2 uuid");
  std::array<std::uint8_t, kUuidSize> uuid{};
  std::copy(bytes.begin(), bytes.end(), uuid.begin());
  return uuid;
}

}  // namespace cvmsim::image
