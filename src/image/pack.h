// Packing a raw disk image into an encrypted LUKS2 image (docs/formats.md "Encrypted
// image"): a fresh random image key, the data segment encrypted with the suite's XTS
// cipher, and one provider-signed image certificate per authorised chip, each holding the
// image key wrapped for that chip's key-wrapping key.
//
// The input is streamed in bounded chunks by a few worker threads (each reads, encrypts and
// writes its own chunk, so I/O of one overlaps the cipher of another), into a temporary
// file beside the output that is renamed over it only when everything succeeded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"
#include "image/image_cert.h"

namespace cvmsim::image {

struct PackChip {
  Bytes chip_id;             // kCertChipIdSize bytes
  crypto::Key wrapping_key;  // the chip's public key-wrapping key (PDH / VWK)
};

struct PackRequest {
  std::filesystem::path input;
  std::filesystem::path output;
  crypto::SuiteId suite = crypto::SuiteId::sm;
  std::uint32_t sector_size = 4096;
  std::vector<PackChip> chips;
  std::vector<Bytes> allowed_measurements;  // launch digests; empty = any
  // An authenticated image: a 16-byte tag per data sector after the data segment and the
  // root of the hash tree over them in every certificate (crypto/sector_tags.h).
  bool integrity = false;
  unsigned threads = 0;               // 0: one per core
  std::size_t chunk_size = 4u << 20;  // bytes per work item (multiple of 4096)
  // Called on the calling thread a few times a second with (bytes done, bytes total).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct PackResult {
  std::array<std::uint8_t, kUuidSize> uuid{};
  std::uint64_t input_size = 0;
  std::uint64_t header_size = 0;
  std::uint64_t data_offset = 0;
  std::uint64_t data_length = 0;
  std::uint64_t image_size = 0;
  std::optional<SectorIntegrity> integrity;    // tag offset and root, when asked for
  std::vector<ImageCertificate> certificates;  // token order
};

// Throws ImageError{bad_input} for inconsistent parameters (suites, sizes, no chips, more
// chips than LUKS2 tokens) and ImageError{io} naming the file and the OS reason. On any
// failure the output path is untouched and no temporary file remains.
PackResult pack_image(const PackRequest& request, const crypto::Key& provider_private_key);

}  // namespace cvmsim::image
