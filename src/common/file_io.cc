#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fmt/std.h>

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
  int release_and_close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

}  // namespace

Bytes read_file(const std::filesystem::path& path, std::uint64_t max_size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_io("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_io("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    throw CommonError(CommonErrc::io, fmt::format("cannot read {}: not a regular file", path));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_size) {
    throw CommonError(CommonErrc::too_large,
                      fmt::format("{} is {} bytes; the limit for this kind of file is {}",
                                  path.string(), size, max_size));
  }
  Bytes data(size);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
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

void write_text_file_atomic(const std::filesystem::path& path, std::string_view contents,
                            unsigned mode) {
  write_file_atomic(path, as_bytes(contents), mode);
}

}  // namespace cvmsim
