// The boot-volume header (docs/formats.md, "Boot volume"): the first block of a disk the
// guest loader reads and `cvmsim inspect` describes. The input's first 8 bytes choose the
// volume size the header must fit (little-endian), the rest is the block. A header that is
// accepted encodes to a block that decodes to the same header.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "fuzz_check.h"
#include "image/boot_volume.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t volume_size = 0;
  for (int i = 7; i >= 0; --i) volume_size = volume_size << 8 | data[i];
  const cvmsim::ByteView block(data + 8, size - 8);
  cvmsim::fuzz::refuse_only_with<cvmsim::Error>([&] {
    using cvmsim::image::BootVolumeHeader;
    const BootVolumeHeader header = BootVolumeHeader::decode(block, volume_size, "fuzz.disk");
    const cvmsim::Bytes encoded = header.encode();
    const BootVolumeHeader again = BootVolumeHeader::decode(encoded, volume_size, "re-encoded");
    FUZZ_CHECK(again.encode() == encoded);
  });
  return 0;
}
