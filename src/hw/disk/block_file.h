// A disk's backing store: the image file on the host file system, reached with
// pread/pwrite at byte offsets (the file is never loaded whole: images may exceed RAM).
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/bytes.h"

namespace cvmsim::hw {

class BlockFile {
 public:
  // Throws HwError{io} naming the path and the OS reason.
  BlockFile(const std::filesystem::path& path, bool writable);
  BlockFile(BlockFile&& other) noexcept;
  BlockFile& operator=(BlockFile&& other) noexcept;
  BlockFile(const BlockFile&) = delete;
  BlockFile& operator=(const BlockFile&) = delete;
  ~BlockFile();

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  [[nodiscard]] bool writable() const noexcept { return writable_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  // Whole-range transfers inside [0, size()); throw HwError{io} (short transfers, range
  // outside the file, OS errors) naming the path and offset.
  void read_at(std::uint64_t offset, MutableByteView out) const;
  void write_at(std::uint64_t offset, ByteView data);
  // Makes every completed write durable (fsync). Throws HwError{io}.
  void sync();

 private:
  void check_range(std::uint64_t offset, std::uint64_t length, const char* what) const;

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  bool writable_ = false;
};

}  // namespace cvmsim::hw
