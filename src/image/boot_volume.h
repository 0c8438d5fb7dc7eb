// The boot volume: the plaintext disk that `cvmsim mkdisk` builds and `cvmsim pack`
// encrypts. Block 0 is a boot header naming the kernel payload the boot firmware
// (guest/programs/image_boot.c) loads and a table of files in the data area; the guest
// keeps its state in the data area's first block. Layout in docs/formats.md ("Boot
// volume"); guest/sdk/cvm.h declares the same structures for guest code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/bytes.h"

namespace cvmsim::image {

inline constexpr std::uint64_t kBootMagic = 0x544f4f42534d5643ull;  // "CVMSBOOT"
inline constexpr std::uint32_t kBootVersion = 1;
inline constexpr std::uint64_t kBootBlock = 4096;
inline constexpr std::size_t kBootMaxFiles = 64;
inline constexpr std::size_t kBootNameSize = 32;  // including the terminating NUL
inline constexpr std::uint64_t kKernelLoadGpa = 0x200000;
inline constexpr std::uint64_t kMaxKernelSize = 1ull << 20;

struct BootFile {
  std::string name;
  std::uint64_t offset = 0;  // bytes from the volume's start
  std::uint64_t size = 0;
};

struct BootVolumeHeader {
  std::uint64_t kernel_offset = 0;
  std::uint64_t kernel_size = 0;
  std::uint64_t kernel_load_gpa = kKernelLoadGpa;
  std::uint64_t data_offset = 0;
  std::uint64_t data_size = 0;
  std::vector<BootFile> files;

  [[nodiscard]] Bytes encode() const;  // one kBootBlock block
  // Checks magic, version, counts, names, alignment and that everything lies inside
  // `volume_size`; throws ImageError{bad_input} naming `source`, the field and offset.
  static BootVolumeHeader decode(ByteView block, std::uint64_t volume_size,
                                 std::string_view source);
};

struct BootVolumeSpec {
  Bytes kernel;  // a payload image (guest/sdk/payload_start.S)
  struct File {
    std::string name;
    Bytes contents;
  };
  std::vector<File> files;
  std::uint64_t free_space = 1ull << 20;  // writable room in the data area beyond the files
};

// Lays out header block, kernel, data area (state block, files, free space), each part
// 4 KiB-aligned. Throws ImageError{bad_input} for a bad kernel, name or count.
Bytes build_boot_volume(const BootVolumeSpec& spec);

}  // namespace cvmsim::image
