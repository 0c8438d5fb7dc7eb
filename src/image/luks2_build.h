// Writing the LUKS2 container around a packed image (docs/formats.md "Encrypted image"):
// both header copies, a keyslots area that `cryptsetup luksAddKey` can use, and the
// metadata that describes the encrypted data segment and carries one image-certificate
// token per authorised chip.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "image/image_cert.h"
#include "image/luks2.h"

namespace cvmsim::image {

// cryptsetup refuses more tokens than this (LUKS2_TOKENS_MAX).
inline constexpr std::size_t kLuks2MaxTokens = 32;
// The data segment starts on a 1 MiB boundary after both headers and a keyslots area of
// at least this much (a 512-bit key with 4000 anti-forensic stripes needs 250 KiB).
inline constexpr std::uint64_t kLuks2MinKeyslotsSize = 512 * 1024;
inline constexpr std::uint64_t kLuks2DataAlignment = 1024 * 1024;
inline constexpr std::uint32_t kLuks2DigestIterations = 1000;

struct Luks2Token {
  Bytes chip_id;
  Bytes certificate;  // CVMSICRT bytes
};

// An authenticated image's tag area, shown as a "cvmsim-sector-tags" token (for display,
// like the segment: the PSP takes the tag offset and root from the signed certificate).
struct Luks2TagArea {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::string mac;  // crypto::sector_tag_algorithm(suite): "poly1305-sm4", "poly1305-aes256"
};

struct Luks2Volume {
  std::array<std::uint8_t, kUuidSize> uuid{};
  DiskCipher cipher = DiskCipher::sm4_xts_plain64;
  std::uint32_t sector_size = 4096;
  std::uint64_t header_size = kLuks2MinHeaderSize;
  std::uint64_t data_offset = 0;  // luks2_data_offset_for(header_size)
  std::uint64_t data_length = 0;
  std::vector<Luks2Token> tokens;
  std::optional<Luks2TagArea> tag_area;  // one more token after the certificates
  Bytes volume_key;  // only hashed into the pbkdf2 digest (so cryptsetup can check a key)
};

// Where the data segment starts for a header copy of `header_size` bytes.
std::uint64_t luks2_data_offset_for(std::uint64_t header_size);

// The JSON metadata text of `volume` (without the NUL padding of the JSON area).
std::string luks2_metadata_text(const Luks2Volume& volume);

// True when the metadata fits the JSON area of `volume.header_size` (with its NUL).
bool luks2_metadata_fits(const Luks2Volume& volume);

// Both header copies (2 * header_size bytes) for image offset 0. Throws
// ImageError{bad_input} when the metadata does not fit or the layout is inconsistent.
Bytes build_luks2_headers(const Luks2Volume& volume);

// A random (version 4) UUID, its canonical text and the text's parse.
std::array<std::uint8_t, kUuidSize> random_uuid();
std::string uuid_to_text(const std::array<std::uint8_t, kUuidSize>& uuid);
std::optional<std::array<std::uint8_t, kUuidSize>> uuid_from_text(std::string_view text);

}  // namespace cvmsim::image
