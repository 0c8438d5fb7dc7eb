#include "image/image_cert.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "common/binary.h"
#include "common/checked.h"
#include "common/common_error.h"
#include "crypto/crypto_error.h"
#include "crypto/suite.h"
#include "image/image_error.h"

namespace cvmsim::image {
namespace {

constexpr std::string_view kMagic = "CVMSICRT";
constexpr std::uint16_t kVersion = 1;
constexpr std::uint16_t kVersionWithIntegrity = 2;  // version 1 + the integrity block
constexpr std::uint8_t kIntegrityTagTree = 1;  // sector tags (crypto/sector_tags.h) + hash tree
constexpr std::string_view kKeyContextLabel = "cvmsim-image-key-v1";

[[noreturn]] void reject(std::string_view source, std::string_view field, std::size_t offset,
                         std::string_view problem) {
  throw ImageError(ImageErrc::bad_certificate,
                   fmt::format("{}: field '{}' at offset {}: {}", source, field, offset, problem));
}

void write_sized(ByteWriter& w, ByteView value, std::string_view field) {
  if (value.size() > std::numeric_limits<std::uint16_t>::max()) {
    throw ImageError(ImageErrc::bad_certificate,
                     fmt::format("image certificate field '{}' is {} bytes; at most 65535", field,
                                 value.size()));
  }
  w.u16(static_cast<std::uint16_t>(value.size()));
  w.bytes(value);
}

// Reads a u16 length and that many bytes, refusing an empty field.
Bytes read_sized(ByteReader& r, std::string_view length_field, std::string_view field) {
  const std::size_t at = r.offset();
  const std::uint16_t size = r.u16(length_field);
  if (size == 0) reject(r.source(), length_field, at, fmt::format("{} must not be empty", field));
  return to_bytes(r.bytes(field, size));
}

// Version 2's block after the chip id: mode, reserved, tag offset, root.
SectorIntegrity decode_integrity(ByteReader& r, const ImageCertificate& cert) {
  const std::string_view source = r.source();
  std::size_t at = r.offset();
  if (const auto mode = r.u8("integrity"); mode != kIntegrityTagTree) {
    reject(source, "integrity", at, fmt::format("{} is no integrity mode (1 tag-tree)", mode));
  }
  r.expect_zero("reserved", 7);
  SectorIntegrity integrity;
  at = r.offset();
  integrity.tag_offset = r.u64("tag_offset");
  if (integrity.tag_offset % kDataAlignment != 0) {
    reject(source, "tag_offset", at,
           fmt::format("{} is not a multiple of {}", integrity.tag_offset, kDataAlignment));
  }
  // decode_fields checked that data offset + length does not overflow.
  if (integrity.tag_offset < cert.data_offset + cert.data_length) {
    reject(source, "tag_offset", at,
           fmt::format("{} lies inside the data segment (which ends at {})", integrity.tag_offset,
                       cert.data_offset + cert.data_length));
  }
  // The tags take 32 bytes per sector: less than the sectors themselves, so no overflow
  // past the data length's; the end is checked anyway.
  if (!add_checked(integrity.tag_offset, cert.data_sectors() * crypto::kSectorTagSize)) {
    reject(source, "tag_offset", at, "tag offset + tag area overflows 64 bits");
  }
  const ByteView root = r.bytes("tag_root", integrity.root.size());
  std::copy(root.begin(), root.end(), integrity.root.begin());
  return integrity;
}

ImageCertificate decode_fields(ByteReader& r) {
  const std::string_view source = r.source();
  ImageCertificate cert;
  const ByteView magic = r.bytes("magic", kMagic.size());
  if (!std::equal(magic.begin(), magic.end(), as_bytes(kMagic).begin())) {
    reject(source, "magic", 0, "expected \"CVMSICRT\"");
  }
  std::size_t at = r.offset();
  const auto version = r.u16("version");
  if (version != kVersion && version != kVersionWithIntegrity) {
    reject(source, "version", at,
           fmt::format("version {} is not supported (expected 1 or 2)", version));
  }
  at = r.offset();
  const std::uint8_t suite = r.u8("suite");
  if (suite != static_cast<std::uint8_t>(crypto::SuiteId::sm) &&
      suite != static_cast<std::uint8_t>(crypto::SuiteId::nist)) {
    reject(source, "suite", at, fmt::format("{} is no suite (1 sm, 2 nist)", suite));
  }
  cert.suite = static_cast<crypto::SuiteId>(suite);
  at = r.offset();
  const std::uint8_t cipher = r.u8("cipher");
  if (cipher == 0) reject(source, "cipher", at, "0 would be cipher_null, which is refused");
  if (cipher != static_cast<std::uint8_t>(DiskCipher::sm4_xts_plain64) &&
      cipher != static_cast<std::uint8_t>(DiskCipher::aes_xts_plain64)) {
    reject(source, "cipher", at,
           fmt::format("{} is no cipher (1 sm4-xts-plain64, 2 aes-xts-plain64)", cipher));
  }
  cert.cipher = static_cast<DiskCipher>(cipher);
  if (cert.cipher != disk_cipher_for(cert.suite)) {
    reject(source, "cipher", at,
           fmt::format("{} does not belong to suite {} (expected {})", to_string(cert.cipher),
                       crypto::to_string(cert.suite), to_string(disk_cipher_for(cert.suite))));
  }
  at = r.offset();
  cert.key_bits = r.u16("key_bits");
  if (cert.key_bits != key_bits_for(cert.cipher)) {
    reject(source, "key_bits", at,
           fmt::format("{} bits does not match {} (expected {})", cert.key_bits,
                       to_string(cert.cipher), key_bits_for(cert.cipher)));
  }
  r.expect_zero("reserved", 2);
  at = r.offset();
  cert.sector_size = r.u32("sector_size");
  if (cert.sector_size != 512 && cert.sector_size != 4096) {
    reject(source, "sector_size", at,
           fmt::format("{} is not a supported sector size (512 or 4096)", cert.sector_size));
  }
  at = r.offset();
  if (const auto iv = r.u8("iv_scheme"); iv != kIvSchemePlain64) {
    reject(source, "iv_scheme", at, fmt::format("{} is no IV scheme (1 plain64)", iv));
  }
  r.expect_zero("reserved", 3);
  const ByteView uuid = r.bytes("image_uuid", kUuidSize);
  std::copy(uuid.begin(), uuid.end(), cert.image_uuid.begin());
  at = r.offset();
  cert.data_offset = r.u64("data_offset");
  if (cert.data_offset % kDataAlignment != 0) {
    reject(source, "data_offset", at,
           fmt::format("{} is not a multiple of {}", cert.data_offset, kDataAlignment));
  }
  at = r.offset();
  cert.data_length = r.u64("data_length");
  if (cert.data_length == 0 || cert.data_length % cert.sector_size != 0) {
    reject(source, "data_length", at,
           fmt::format("{} is not a positive multiple of the sector size {}", cert.data_length,
                       cert.sector_size));
  }
  if (!add_checked(cert.data_offset, cert.data_length)) {
    reject(source, "data_length", at, "data offset + length overflows 64 bits");
  }
  cert.chip_id = to_bytes(r.bytes("chip_id", kCertChipIdSize));
  if (version == kVersionWithIntegrity) cert.integrity = decode_integrity(r, cert);
  const std::size_t digest_size = crypto::suite(cert.suite).digest_size();
  const std::uint16_t count = r.u16("measurement_count");
  for (std::uint16_t i = 0; i < count; ++i) {
    cert.allowed_measurements.push_back(to_bytes(r.bytes("allowed_measurement", digest_size)));
  }
  cert.wrapped_key = read_sized(r, "wrapped_key_length", "wrapped_key");
  at = r.offset() + 2;
  cert.provider_key = read_sized(r, "provider_key_length", "provider_key");
  try {
    const crypto::Key key = crypto::Key::parse(cert.provider_key, "provider_key");
    if (key.suite() != cert.suite || key.has_private()) {
      reject(source, "provider_key", at,
             fmt::format("not a public key of suite {}", crypto::to_string(cert.suite)));
    }
  } catch (const crypto::CryptoError& e) {
    reject(source, "provider_key", at, e.what());
  }
  cert.signature = read_sized(r, "signature_length", "signature");
  r.expect_end();
  return cert;
}

}  // namespace

std::string_view to_string(DiskCipher cipher) {
  switch (cipher) {
    case DiskCipher::sm4_xts_plain64:
      return "sm4-xts-plain64";
    case DiskCipher::aes_xts_plain64:
      return "aes-xts-plain64";
  }
  return "unknown";
}

DiskCipher disk_cipher_for(crypto::SuiteId suite) {
  return suite == crypto::SuiteId::sm ? DiskCipher::sm4_xts_plain64 : DiskCipher::aes_xts_plain64;
}

std::uint16_t key_bits_for(DiskCipher cipher) {
  return cipher == DiskCipher::sm4_xts_plain64 ? 256 : 512;
}

Bytes ImageCertificate::signed_body() const {
  if (chip_id.size() != kCertChipIdSize) {
    throw ImageError(ImageErrc::bad_certificate,
                     fmt::format("image certificate chip_id is {} bytes; expected {}",
                                 chip_id.size(), kCertChipIdSize));
  }
  if (allowed_measurements.size() > std::numeric_limits<std::uint16_t>::max()) {
    throw ImageError(ImageErrc::bad_certificate, "too many allowed measurements (at most 65535)");
  }
  ByteWriter w;
  w.bytes(as_bytes(kMagic));
  w.u16(integrity ? kVersionWithIntegrity : kVersion);
  w.u8(static_cast<std::uint8_t>(suite));
  w.u8(static_cast<std::uint8_t>(cipher));
  w.u16(key_bits);
  w.zeros(2);
  w.u32(sector_size);
  w.u8(kIvSchemePlain64);
  w.zeros(3);
  w.bytes(image_uuid);
  w.u64(data_offset);
  w.u64(data_length);
  w.bytes(chip_id);
  if (integrity) {
    w.u8(kIntegrityTagTree);
    w.zeros(7);
    w.u64(integrity->tag_offset);
    w.bytes(integrity->root);
  }
  w.u16(static_cast<std::uint16_t>(allowed_measurements.size()));
  for (const Bytes& digest : allowed_measurements) w.bytes(digest);
  write_sized(w, wrapped_key, "wrapped_key");
  write_sized(w, provider_key, "provider_key");
  return w.take();
}

Bytes ImageCertificate::encode() const {
  ByteWriter w;
  w.bytes(signed_body());
  write_sized(w, signature, "signature");
  return w.take();
}

ImageCertificate ImageCertificate::decode(ByteView data, std::string_view source) {
  if (data.size() > kMaxCertificateSize) {
    throw ImageError(ImageErrc::bad_certificate,
                     fmt::format("{}: {} bytes is larger than an image certificate may be ({})",
                                 source, data.size(), kMaxCertificateSize));
  }
  ByteReader r(data, std::string(source));
  try {
    return decode_fields(r);
  } catch (const CommonError& e) {
    // ByteReader's truncation and padding errors, restated as this module's error.
    throw ImageError(ImageErrc::bad_certificate, e.what());
  }
}

bool ImageCertificate::signature_valid() const {
  try {
    const crypto::Key key = crypto::Key::parse(provider_key, "image certificate provider_key");
    if (key.suite() != suite) return false;
    return crypto::suite(suite).verify(key, signed_body(), signature);
  } catch (const Error&) {
    return false;  // an unparsable key or body verifies nothing
  }
}

Bytes image_key_context(const ImageCertificate& cert) {
  Bytes context = to_bytes(as_bytes(kKeyContextLabel));
  append(context, cert.image_uuid);
  append(context, cert.chip_id);
  return context;
}

ImageCertificate issue_image_certificate(ImageCertificate cert, ByteView image_key,
                                         const crypto::Key& chip_wrapping_key,
                                         const crypto::Key& provider_private_key) {
  const crypto::Suite& suite = crypto::suite(cert.suite);
  if (cert.cipher != disk_cipher_for(cert.suite) || cert.key_bits != key_bits_for(cert.cipher)) {
    throw ImageError(
        ImageErrc::bad_input,
        fmt::format("suite {} encrypts disks with {} and a {}-bit key",
                    crypto::to_string(cert.suite), to_string(disk_cipher_for(cert.suite)),
                    key_bits_for(disk_cipher_for(cert.suite))));
  }
  if (image_key.size() * 8 != cert.key_bits) {
    throw ImageError(ImageErrc::bad_input,
                     fmt::format("image key is {} bytes; {} needs {}", image_key.size(),
                                 to_string(cert.cipher), cert.key_bits / 8));
  }
  if (chip_wrapping_key.suite() != cert.suite || provider_private_key.suite() != cert.suite) {
    throw ImageError(ImageErrc::bad_input,
                     fmt::format("the chip's wrapping key and the provider key must both be of "
                                 "suite {}",
                                 crypto::to_string(cert.suite)));
  }
  if (!provider_private_key.has_private()) {
    throw ImageError(ImageErrc::bad_input, "the provider key has no private part to sign with");
  }
  cert.wrapped_key = suite.wrap(chip_wrapping_key, image_key, image_key_context(cert));
  cert.provider_key = provider_private_key.public_der();
  cert.signature = suite.sign(provider_private_key, cert.signed_body());
  // What we issue must be what the PSP accepts: run the same structural checks.
  (void)ImageCertificate::decode(cert.encode(), "issued image certificate");
  return cert;
}

}  // namespace cvmsim::image
