#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "common/bytes.h"
#include "common/hex.h"
#include "image/base64.h"
#include "image/image_error.h"
#include "image/luks2.h"
#include "image/luks2_build.h"
#include "image/luks2_layout.h"

namespace cvmsim::image {
namespace {

using namespace luks2_layout;

[[noreturn]] void bad_header(std::string_view source, std::string_view problem) {
  throw ImageError(ImageErrc::bad_header, fmt::format("{}: LUKS2 header: {}", source, problem));
}

std::uint64_t be64(ByteView data, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | data[at + i];
  return v;
}

// A NUL-terminated text field of `width` bytes.
std::string text_field(ByteView data, std::size_t at, std::size_t width, std::string_view field,
                       std::string_view source) {
  const auto begin = data.begin() + static_cast<std::ptrdiff_t>(at);
  const auto end = begin + static_cast<std::ptrdiff_t>(width);
  const auto nul = std::find(begin, end, 0);
  if (nul == end) {
    bad_header(source, fmt::format("field '{}' at offset {} is not NUL-terminated", field, at));
  }
  return {begin, nul};
}

std::optional<std::uint64_t> decimal(const nlohmann::json& value) {
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// What segment "0" claims, when it is well-formed enough to say; display only.
void read_segment_claims(Luks2Header& header) {
  const auto segments = header.metadata.find("segments");
  const auto seg = segments->find("0");
  if (seg == segments->end() || !seg->is_object()) return;
  if (const auto it = seg->find("encryption"); it != seg->end() && it->is_string()) {
    header.segment_cipher = it->get<std::string>();
  }
  if (const auto it = seg->find("sector_size");
      it != seg->end() && it->is_number_unsigned() && it->get<std::uint64_t>() <= UINT32_MAX) {
    header.segment_sector_size = it->get<std::uint32_t>();
  }
  if (const auto it = seg->find("offset"); it != seg->end()) {
    header.segment_offset = decimal(*it).value_or(0);
  }
}

}  // namespace

std::uint64_t luks2_stated_header_size(ByteView binary_header, std::string_view source) {
  if (binary_header.size() < kHeaderSizeOffset + 8) {
    bad_header(source,
               fmt::format("{} bytes is too short for a binary header", binary_header.size()));
  }
  const ByteView magic = as_bytes(kMagicPrimary);
  if (!std::equal(magic.begin(), magic.end(), binary_header.begin())) {
    bad_header(source, "magic at offset 0 is not \"LUKS\\xba\\xbe\"");
  }
  return be64(binary_header, kHeaderSizeOffset);
}

Luks2Header parse_luks2_header(ByteView bytes, std::string_view source) {
  if (bytes.size() < kLuks2BinaryHeaderSize) {
    bad_header(source, fmt::format("{} bytes is shorter than the {}-byte binary header",
                                   bytes.size(), kLuks2BinaryHeaderSize));
  }
  Luks2Header header;
  header.header_size = luks2_stated_header_size(bytes, source);
  const std::uint16_t version =
      static_cast<std::uint16_t>((bytes[kVersionOffset] << 8) | bytes[kVersionOffset + 1]);
  if (version != 2) {
    bad_header(source,
               fmt::format("version at offset {} is {}; expected 2", kVersionOffset, version));
  }
  const std::uint64_t hs = header.header_size;
  if (hs < kLuks2MinHeaderSize || hs > kLuks2MaxHeaderSize || (hs & (hs - 1)) != 0) {
    bad_header(source, fmt::format("hdr_size at offset {} is {}; expected a power of two "
                                   "from 16 KiB to 4 MiB",
                                   kHeaderSizeOffset, hs));
  }
  if (bytes.size() < hs) {
    bad_header(source, fmt::format("the header copy is {} bytes but only {} are present", hs,
                                   bytes.size()));
  }
  if (const std::uint64_t at = be64(bytes, kHdrOffsetOffset); at != 0) {
    bad_header(source, fmt::format("hdr_offset at offset {} is {}; the primary header is at 0",
                                   kHdrOffsetOffset, at));
  }
  const std::string algorithm =
      text_field(bytes, kChecksumAlgOffset, kChecksumAlgSize, "checksum_alg", source);
  if (algorithm != "sha256") {
    bad_header(source, fmt::format("checksum_alg is '{}'; only sha256 is supported", algorithm));
  }
  Bytes copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(hs));
  std::fill_n(copy.begin() + kChecksumOffset, kChecksumSize, 0);
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> expected{};
  SHA256(copy.data(), copy.size(), expected.data());
  const ByteView stored = bytes.subspan(kChecksumOffset, kChecksumSize);
  if (!std::equal(expected.begin(), expected.end(), stored.begin()) ||
      std::any_of(stored.begin() + SHA256_DIGEST_LENGTH, stored.end(),
                  [](std::uint8_t b) { return b != 0; })) {
    bad_header(source, fmt::format("sha256 checksum at offset {} does not match the header "
                                   "(damaged or edited without updating it)",
                                   kChecksumOffset));
  }
  header.seqid = be64(bytes, kSeqidOffset);
  header.uuid_text = text_field(bytes, kUuidOffset, kUuidTextSize, "uuid", source);
  const auto uuid = uuid_from_text(header.uuid_text);
  if (!uuid) bad_header(source, fmt::format("uuid '{}' is not a UUID", header.uuid_text));
  header.uuid = *uuid;

  const ByteView area = bytes.subspan(kLuks2BinaryHeaderSize, hs - kLuks2BinaryHeaderSize);
  const auto nul = std::find(area.begin(), area.end(), 0);
  if (nul == area.end()) bad_header(source, "the JSON area is not NUL-terminated");
  header.metadata = nlohmann::json::parse(area.begin(), nul, nullptr, /*allow_exceptions=*/false);
  if (header.metadata.is_discarded() || !header.metadata.is_object()) {
    bad_header(source, fmt::format("the JSON area at offset {} is not a JSON object",
                                   kLuks2BinaryHeaderSize));
  }
  for (const char* key : {"keyslots", "tokens", "segments", "digests", "config"}) {
    const auto it = header.metadata.find(key);
    if (it == header.metadata.end() || !it->is_object()) {
      bad_header(source, fmt::format("the JSON metadata has no \"{}\" object", key));
    }
  }
  read_segment_claims(header);
  return header;
}

std::vector<Bytes> certificates_for_chip(const Luks2Header& header, ByteView chip_id) {
  // Token ids are decimal strings; JSON objects sort them as text ("10" < "2").
  std::map<std::uint64_t, const nlohmann::json*> ordered;
  const auto tokens = header.metadata.find("tokens");
  if (tokens == header.metadata.end() || !tokens->is_object()) return {};
  for (const auto& [id, token] : tokens->items()) {
    const auto number = decimal(nlohmann::json(id));
    if (number && token.is_object()) ordered.emplace(*number, &token);
  }
  const std::string wanted = to_hex(chip_id);
  std::vector<Bytes> out;
  for (const auto& [id, token] : ordered) {
    // The JSON is the host's to edit. A token that cannot be for this chip (another
    // type, no chip_id string, another chip) is skipped whatever else is wrong with it,
    // so a malformed token for another chip never hides this chip's good one.
    const auto type = token->find("type");
    if (type == token->end() || !type->is_string() ||
        type->get_ref<const std::string&>() != kImageTokenType) {
      continue;
    }
    const auto chip = token->find("chip_id");
    if (chip == token->end() || !chip->is_string()) continue;
    std::string chip_text = chip->get<std::string>();
    std::transform(chip_text.begin(), chip_text.end(), chip_text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (chip_text != wanted) continue;
    const auto cert = token->find("certificate");
    if (cert == token->end() || !cert->is_string()) {
      throw ImageError(ImageErrc::bad_header,
                       fmt::format("LUKS2 token {} ({}) for chip {} has no \"certificate\" "
                                   "string",
                                   id, kImageTokenType, wanted));
    }
    auto decoded = base64_decode(cert->get_ref<const std::string&>());
    if (!decoded) {
      throw ImageError(ImageErrc::bad_header,
                       fmt::format("LUKS2 token {}: \"certificate\" is not base64", id));
    }
    out.push_back(std::move(*decoded));
  }
  return out;
}

}  // namespace cvmsim::image
