#include "image/posix_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/common_error.h"
#include "common/file_io.h"
#include "image/image_error.h"

namespace cvmsim::image {
namespace {

[[noreturn]] void throw_io(std::string_view action, const std::filesystem::path& path, int err) {
  throw ImageError(ImageErrc::io,
                   fmt::format("cannot {} {}: {}", action, path.string(), std::strerror(err)));
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path) : path_(path) {
  try {
    // Checks the type before any read: a FIFO or device is refused, never waited on.
    RegularFile file(path);
    size_ = file.size();
    fd_ = file.release();
  } catch (const CommonError& e) {
    throw ImageError(ImageErrc::io, e.what());
  }
  (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t InputFile::read_some_at(std::uint64_t offset, MutableByteView out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io("read", path_, errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void InputFile::read_at(std::uint64_t offset, MutableByteView out) const {
  if (read_some_at(offset, out) != out.size()) {
    throw ImageError(ImageErrc::io, fmt::format("cannot read {}: the file shrank while it was "
                                                "being read (at offset {})",
                                                path_.string(), offset));
  }
}

PendingOutput::PendingOutput(const std::filesystem::path& final_path, unsigned mode)
    : final_path_(final_path) {
  const std::filesystem::path dir =
      final_path.has_parent_path() ? final_path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + final_path.filename().string() + ".tmp-XXXXXX")).string();
  fd_ = ::mkstemp(tmpl.data());
  if (fd_ < 0) throw_io("create a temporary file for", final_path, errno);
  temp_path_ = tmpl;
  if (::fchmod(fd_, static_cast<mode_t>(mode)) != 0) {
    const int err = errno;
    ::close(fd_);
    ::unlink(temp_path_.c_str());
    throw_io("set permissions of", temp_path_, err);
  }
}

PendingOutput::~PendingOutput() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void PendingOutput::write_at(std::uint64_t offset, ByteView data) const {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io("write", temp_path_, errno);
    done += static_cast<std::size_t>(n);
  }
}

void PendingOutput::resize(std::uint64_t size) const {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) throw_io("resize", temp_path_, errno);
}

void PendingOutput::start_writeback(std::uint64_t offset, std::uint64_t length) const {
  // Only a hint: a file system without it (EINVAL, ENOSYS...) leaves the work to fsync.
  (void)::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                          SYNC_FILE_RANGE_WRITE);
}

void PendingOutput::commit() {
  if (::fsync(fd_) != 0) throw_io("sync", temp_path_, errno);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw_io("close", temp_path_, errno);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    throw_io("rename into place", final_path_, errno);
  }
  committed_ = true;
}

}  // namespace cvmsim::image
