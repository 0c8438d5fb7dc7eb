// Reading the LUKS2 container that holds an encrypted image (docs/formats.md "Encrypted
// image"). Only the binary header and its checksum are checked here; the JSON metadata is
// unauthenticated (anyone can rewrite it and recompute the sha256), so what it says about
// the data segment is for display only. The PSP takes every parameter it programs from the
// provider-signed image certificate found in a token.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "image/image_cert.h"

namespace cvmsim::image {

struct Luks2Header {
  std::array<std::uint8_t, kUuidSize> uuid{};
  std::string uuid_text;
  std::uint64_t header_size = 0;  // bytes of one header copy (binary header + JSON area)
  std::uint64_t seqid = 0;
  nlohmann::json metadata;  // the JSON area, parsed
  // Segment "0" as the (unauthenticated!) JSON states it: for display only.
  std::string segment_cipher;
  std::uint32_t segment_sector_size = 0;
  std::uint64_t segment_offset = 0;
};

inline constexpr std::uint64_t kLuks2BinaryHeaderSize = 4096;
inline constexpr std::uint64_t kLuks2MinHeaderSize = 16 * 1024;
inline constexpr std::uint64_t kLuks2MaxHeaderSize = 4 * 1024 * 1024;
inline constexpr std::string_view kImageTokenType = "cvmsim-image-cert";
inline constexpr std::string_view kSectorTagsTokenType = "cvmsim-sector-tags";

// The header size a binary header states (big-endian u64 at offset 8), unchecked except
// that `binary_header` must hold at least 16 bytes and begin with the LUKS2 magic.
std::uint64_t luks2_stated_header_size(ByteView binary_header, std::string_view source);

// Parses the primary header: `bytes` starts at image offset 0 and holds at least
// header_size bytes (read the 4096-byte binary header first to learn header_size; it is
// big-endian u64 at offset 8). Checks magic, version 2, header size (16 KiB..4 MiB, power
// of two), the sha256 checksum, and that the JSON parses and has the LUKS2 top-level
// objects. Throws ImageError naming `source` and what was wrong.
Luks2Header parse_luks2_header(ByteView bytes, std::string_view source);

// The decoded (base64) certificates of every "cvmsim-image-cert" token whose "chip_id"
// (hex) equals `chip_id`, in token order. Tokens that do not name this chip are skipped
// however malformed they are; a token for this chip without a base64 "certificate" string
// throws ImageError{bad_header} naming the token.
std::vector<Bytes> certificates_for_chip(const Luks2Header& header, ByteView chip_id);

}  // namespace cvmsim::image
