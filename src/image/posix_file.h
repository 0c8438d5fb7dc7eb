// Positioned reads and writes on POSIX file descriptors, for streaming images that do not
// fit in memory, and a temporary output file that only becomes the real output on commit.
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/bytes.h"

namespace cvmsim::image {

// Owns a file descriptor opened for reading. Errors are ImageError{io} naming the path.
class InputFile {
 public:
  explicit InputFile(const std::filesystem::path& path);
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();

  [[nodiscard]] std::uint64_t size() const { return size_; }
  // Fills `out` from `offset`; a file that ends early is an error ("shrank while reading").
  void read_at(std::uint64_t offset, MutableByteView out) const;
  // Reads what is there, up to out.size() bytes; returns the count.
  std::size_t read_some_at(std::uint64_t offset, MutableByteView out) const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// A temporary file ".NAME.tmp-XXXXXX" beside `final_path`: removed on destruction unless
// commit() fsynced it and renamed it over `final_path`.
class PendingOutput {
 public:
  explicit PendingOutput(const std::filesystem::path& final_path, unsigned mode = 0644);
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;
  ~PendingOutput();

  void write_at(std::uint64_t offset, ByteView data) const;  // safe from several threads
  void resize(std::uint64_t size) const;                     // holes read as zeros
  // Starts the write-back of a written range without waiting for it, so that the disk
  // works while the caller computes the next range and commit()'s fsync has less left.
  void start_writeback(std::uint64_t offset, std::uint64_t length) const;
  void commit();

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace cvmsim::image
