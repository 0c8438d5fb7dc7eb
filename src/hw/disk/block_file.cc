#include "hw/disk/block_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/checked.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {

BlockFile::BlockFile(const std::filesystem::path& path, bool writable)
    : path_(path), writable_(writable) {
  fd_ = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd_ < 0) {
    throw HwError(HwErrc::io, fmt::format("cannot open disk image {}: {}", path.string(),
                                          std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw HwError(HwErrc::io, fmt::format("disk image {} is not a regular file", path.string()));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
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
