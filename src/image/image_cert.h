// The image certificate (CVMSICRT, docs/formats.md "Image certificate"): what the provider
// signs for one chip so that its PSP may release the image key to a VM. It binds every
// parameter the PSP programs into the disk controller (cipher, key size, sector size, IV
// scheme, data offset and length, the LUKS2 UUID); the PSP never takes those from the
// unauthenticated LUKS2 JSON.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/sector_tags.h"
#include "crypto/suite_id.h"

namespace cvmsim::image {

enum class DiskCipher : std::uint8_t { sm4_xts_plain64 = 1, aes_xts_plain64 = 2 };

// IV scheme byte: 1 = plain64 (the only one defined).
inline constexpr std::uint8_t kIvSchemePlain64 = 1;
inline constexpr std::size_t kUuidSize = 16;
inline constexpr std::size_t kCertChipIdSize = 16;  // attest::kChipIdSize
inline constexpr std::size_t kMaxCertificateSize = 16 * 1024;
inline constexpr std::uint64_t kDataAlignment = 4096;

// "sm4-xts-plain64" / "aes-xts-plain64" (dm-crypt spelling).
std::string_view to_string(DiskCipher cipher);
// The cipher and key size (bits) a suite uses for disks: sm -> SM4-XTS 256, nist ->
// AES-256-XTS 512.
DiskCipher disk_cipher_for(crypto::SuiteId suite);
std::uint16_t key_bits_for(DiskCipher cipher);

// An authenticated image's tags (`pack --integrity`, crypto/sector_tags.h): where they lie
// and the root of the hash tree over them at pack time. The tags of sectors [0, n) are n
// consecutive 32-byte records from tag_offset.
struct SectorIntegrity {
  std::uint64_t tag_offset = 0;  // bytes from the start of the image file (multiple of 4096)
  std::array<std::uint8_t, 32> root{};
  bool operator==(const SectorIntegrity&) const = default;
};

struct ImageCertificate {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  DiskCipher cipher = DiskCipher::sm4_xts_plain64;
  std::uint16_t key_bits = 256;
  std::uint32_t sector_size = 4096;
  std::array<std::uint8_t, kUuidSize> image_uuid{};
  std::uint64_t data_offset = 0;             // bytes from the start of the image file
  std::uint64_t data_length = 0;             // bytes
  Bytes chip_id;                             // attest::kChipIdSize (16) bytes
  std::optional<SectorIntegrity> integrity;  // set: an authenticated image (version 2)
  std::vector<Bytes> allowed_measurements;   // launch digests; empty = any
  Bytes wrapped_key;   // suite.wrap(chip wrapping key, image key, image_key_context(*this))
  Bytes provider_key;  // DER SubjectPublicKeyInfo of the provider's signing key
  Bytes signature;     // provider signature over signed_body()

  // Every encoded byte before the signature length field.
  [[nodiscard]] Bytes signed_body() const;
  [[nodiscard]] Bytes encode() const;
  // Structural checks (sizes, known values, cipher/suite/key size consistency, alignment);
  // throws ImageError naming `source`, the field and its offset.
  static ImageCertificate decode(ByteView data, std::string_view source);
  [[nodiscard]] bool signature_valid() const;  // by provider_key
  [[nodiscard]] std::uint64_t data_sectors() const { return data_length / sector_size; }
  // The size of the tag area (32 bytes per data sector); 0 without integrity.
  [[nodiscard]] std::uint64_t tag_bytes() const {
    return integrity ? data_sectors() * crypto::kSectorTagSize : 0;
  }
};

// The wrap context: "cvmsim-image-key-v1" || image_uuid || chip_id.
Bytes image_key_context(const ImageCertificate& cert);

// Provider side: fills wrapped_key and signature. `chip_wrapping_key` is the chip's public
// key-wrapping key (PDH in sm, VWK in nist: see src/pki identities).
ImageCertificate issue_image_certificate(ImageCertificate unsigned_fields, ByteView image_key,
                                         const crypto::Key& chip_wrapping_key,
                                         const crypto::Key& provider_private_key);

}  // namespace cvmsim::image
