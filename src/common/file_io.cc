#include "common/file_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/std.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/common_error.h"

namespace cvmsim {
namespace {

[[noreturn]] void throw_io(std::string_view action, const std::filesystem::path& path, int err) {
  throw CommonError(CommonErrc::io,
                    fmt::format("cannot {} {}: {}", action, path.string(), std::strerror(err)));
}

// Owns a POSIX file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  int release_and_close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

}  // namespace

RegularFile::RegularFile(const std::filesystem::path& path, bool writable) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  Fd fd(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw_io("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_io("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                                              : "not a regular file";
    throw CommonError(
        CommonErrc::io,
        fmt::format("cannot read {}: it is {}; expected a regular file", path.string(), kind));
  }
  // Regular files never block; clear the flag so reads behave as usual.
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    throw_io("configure", path, errno);
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  device_ = static_cast<std::uint64_t>(st.st_dev);
  inode_ = static_cast<std::uint64_t>(st.st_ino);
  fd_ = fd.release();
}

RegularFile::RegularFile(RegularFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      device_(other.device_),
      inode_(other.inode_) {}

RegularFile& RegularFile::operator=(RegularFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    device_ = other.device_;
    inode_ = other.inode_;
  }
  return *this;
}

int RegularFile::release() noexcept {
  return std::exchange(fd_, -1);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

Bytes read_file(const std::filesystem::path& path, std::uint64_t max_size) {
  const RegularFile file(path);
  const std::uint64_t size = file.size();
  if (size > max_size) {
    throw CommonError(CommonErrc::too_large,
                      fmt::format("{} is {} bytes; the limit for this kind of file is {}",
                                  path.string(), size, max_size));
  }
  Bytes data(size);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(file.fd(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io("read", path, errno);
    if (n == 0) break;  // the file shrank under us: return what is there
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

std::string read_text_file(const std::filesystem::path& path, std::uint64_t max_size) {
  const Bytes data = read_file(path, max_size);
  return {data.begin(), data.end()};
}

void write_file_atomic(const std::filesystem::path& path, ByteView contents, unsigned mode) {
  const std::filesystem::path dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  Fd fd(::mkstemp(tmpl.data()));
  if (fd.get() < 0) throw_io("create a temporary file for", path, errno);
  const std::filesystem::path tmp = tmpl;
  auto fail = [&](std::string_view action) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_io(action, path, err);
  };
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) fail("set permissions of");
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail("sync");
  if (fd.release_and_close() != 0) fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename into place");
}

void sync_directory(const std::filesystem::path& dir) {
  const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw_io("open the directory", dir, errno);
  if (::fsync(fd.get()) != 0) throw_io("sync the directory", dir, errno);
}

void write_text_file_atomic(const std::filesystem::path& path, std::string_view contents,
                            unsigned mode) {
  write_file_atomic(path, as_bytes(contents), mode);
}

}  // namespace cvmsim
