// Whole-file reads with a size limit and crash-safe writes.
//
// Writes go to a temporary file in the destination's directory, are fsynced and then
// renamed over the destination, so a failed operation never leaves a half-written file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/bytes.h"

namespace cvmsim {

inline constexpr std::uint64_t kDefaultMaxFileSize = 64ull << 20;

// A file opened for reading (and writing, when asked) that is known to be a regular file.
// Every reader of outside input opens through this: the open is non-blocking and the
// type is checked with fstat before any read, so a FIFO, a device or a directory is
// refused at once instead of blocking (a FIFO's open or read waits for a writer). Throws
// CommonError{io} naming the path and the reason.
class RegularFile {
 public:
  explicit RegularFile(const std::filesystem::path& path, bool writable = false);
  // Hands the descriptor over to a caller that closes it.
  [[nodiscard]] int release() noexcept;
  RegularFile(RegularFile&& other) noexcept;
  RegularFile& operator=(RegularFile&& other) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  ~RegularFile();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  // The file's identity (device and inode), to tell whether two paths are one file.
  [[nodiscard]] std::uint64_t device() const noexcept { return device_; }
  [[nodiscard]] std::uint64_t inode() const noexcept { return inode_; }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t device_ = 0;
  std::uint64_t inode_ = 0;
};

// True when `a` and `b` name the same existing file (same device and inode), whatever
// the spelling (links, `./`, symlinks). False when either does not exist.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

// Throws CommonError{io} (with the path and the OS reason) or {too_large}.
Bytes read_file(const std::filesystem::path& path, std::uint64_t max_size = kDefaultMaxFileSize);
std::string read_text_file(const std::filesystem::path& path,
                           std::uint64_t max_size = kDefaultMaxFileSize);

// Atomically replaces `path`. `mode` is the permission of the new file (0600 for secrets).
// The new file's bytes are fsynced before the rename; the rename itself is durable only once
// the directory is synced (sync_directory).
void write_file_atomic(const std::filesystem::path& path, ByteView contents, unsigned mode = 0644);

// fsync of the directory `dir`: makes the renames and creations inside it durable, so that
// a power cut cannot bring an older file back. Throws CommonError{io}.
void sync_directory(const std::filesystem::path& dir);
void write_text_file_atomic(const std::filesystem::path& path, std::string_view contents,
                            unsigned mode = 0644);

}  // namespace cvmsim
