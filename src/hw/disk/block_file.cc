#include "hw/disk/block_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/checked.h"
#include "common/common_error.h"
#include "common/file_io.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {

BlockFile::BlockFile(const std::filesystem::path& path, bool writable)
    : path_(path), writable_(writable) {
  try {
    // The type is checked before any read or write: a FIFO is refused, never waited on.
    RegularFile file(path, writable);
    size_ = file.size();
    fd_ = file.release();
  } catch (const CommonError& e) {
    throw HwError(HwErrc::io, fmt::format("disk image: {}", e.what()));
  }
  // One writer or any number of readers, for as long as the disk is attached: two runs
  // writing one image would interleave their sectors and lose updates. flock() locks
  // belong to this open file, so the lock ends when the file is closed, also on a crash.
  if (::flock(fd_, (writable ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw HwError(HwErrc::busy,
                    fmt::format("disk image {} is in use: {}", path.string(),
                                writable ? "another run has it attached (a disk has one writer; "
                                           "readers may share it with --image-read-only)"
                                         : "another run has it attached for writing"));
    }
    throw HwError(HwErrc::io,
                  fmt::format("cannot lock disk image {}: {}", path.string(), std::strerror(err)));
  }
}

BlockFile::BlockFile(BlockFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      writable_(other.writable_) {}

BlockFile& BlockFile::operator=(BlockFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    writable_ = other.writable_;
  }
  return *this;
}

BlockFile::~BlockFile() {
  if (fd_ >= 0) ::close(fd_);
}

void BlockFile::check_range(std::uint64_t offset, std::uint64_t length, const char* what) const {
  const auto end = add_checked(offset, length);
  if (!end || *end > size_) {
    throw HwError(HwErrc::io, fmt::format("{} of {} bytes at offset {:#x} is outside disk image "
                                          "{} ({} bytes)",
                                          what, length, offset, path_.string(), size_));
  }
}

void BlockFile::read_at(std::uint64_t offset, MutableByteView out) const {
  check_range(offset, out.size(), "read");
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw HwError(HwErrc::io,
                    fmt::format("reading disk image {} at offset {:#x}: {}", path_.string(),
                                offset + done, n < 0 ? std::strerror(errno) : "unexpected end"));
    }
    done += static_cast<std::size_t>(n);
  }
}

void BlockFile::write_at(std::uint64_t offset, ByteView data) {
  if (!writable_) {
    throw HwError(HwErrc::io, fmt::format("disk image {} is attached read-only", path_.string()));
  }
  check_range(offset, data.size(), "write");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw HwError(HwErrc::io,
                    fmt::format("writing disk image {} at offset {:#x}: {}", path_.string(),
                                offset + done, n < 0 ? std::strerror(errno) : "no progress"));
    }
    done += static_cast<std::size_t>(n);
  }
}

void BlockFile::sync() {
  if (writable_ && ::fsync(fd_) != 0) {
    throw HwError(HwErrc::io,
                  fmt::format("flushing disk image {}: {}", path_.string(), std::strerror(errno)));
  }
}

}  // namespace cvmsim::hw
