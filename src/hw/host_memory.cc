#include "hw/host_memory.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/checked.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {

std::string_view error_code_name(HwErrc code) {
  switch (code) {
    case HwErrc::bad_address:
      return "bad_address";
    case HwErrc::access_denied:
      return "access_denied";
    case HwErrc::no_key:
      return "no_key";
    case HwErrc::cpu:
      return "cpu";
    case HwErrc::io:
      return "io";
    case HwErrc::bad_dma:
      return "bad_dma";
    case HwErrc::busy:
      return "busy";
  }
  return "unknown";
}

// Frames are shared file pages: the first touch of one, read or write, allocates it
// zero-filled in one kernel fault (an anonymous private mapping took two for a page read
// before it was written: the zero page, then copy on write).
HostMemory::HostMemory(std::uint64_t size, std::vector<DramAlias> aliases)
    : size_(size), aliases_(std::move(aliases)) {
  if (size == 0 || size % kChunkSize != 0) {
    throw HwError(HwErrc::bad_address,
                  fmt::format("host memory size {:#x} is not a positive multiple of 2 MiB", size));
  }
  check_dram_aliases(aliases_, size);
  fd_ = ::memfd_create("cvmsim-dram", MFD_CLOEXEC);
  if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    if (fd_ >= 0) ::close(fd_);
    throw HwError(HwErrc::io, fmt::format("cannot create {:#x} bytes of host memory: {}", size,
                                          std::strerror(err)));
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd_);
    throw HwError(HwErrc::io, fmt::format("cannot map {:#x} bytes of host memory: {}", size,
                                          std::strerror(err)));
  }
  base_ = static_cast<std::uint8_t*>(p);
  // An alias range of the mapping shows its target's pages of the file: the same cells.
  for (const DramAlias& a : aliases_) {
    void* q = ::mmap(base_ + a.alias, a.length, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_NORESERVE | MAP_FIXED, fd_, static_cast<off_t>(a.target));
    if (q == MAP_FAILED) {
      const int err = errno;
      ::munmap(base_, size_);
      ::close(fd_);
      throw HwError(HwErrc::io, fmt::format("cannot map the DRAM alias {:#x} -> {:#x}: {}", a.alias,
                                            a.target, std::strerror(err)));
    }
  }
}

std::optional<std::uint64_t> HostMemory::alias_target(std::uint64_t hpa) const noexcept {
  for (const DramAlias& a : aliases_) {
    if (hpa >= a.alias && hpa - a.alias < a.length) return a.target + (hpa - a.alias);
  }
  return std::nullopt;
}

HostMemory::~HostMemory() {
  ::munmap(base_, size_);
  ::close(fd_);
}

void HostMemory::check_range(std::uint64_t hpa, std::uint64_t length) const {
  const auto end = add_checked(hpa, length);
  if (!end || *end > size_) {
    throw HwError(HwErrc::bad_address,
                  fmt::format("host physical range {:#x}+{:#x} is outside the {:#x}-byte host "
                              "memory",
                              hpa, length, size_));
  }
}

std::uint8_t* HostMemory::frame(std::uint64_t hpa) {
  check_range(hpa, 1);
  return base_ + hpa / kFrameSize * kFrameSize;
}

void HostMemory::populate(std::uint64_t hpa, std::uint64_t length) {
  check_range(hpa, length);
  if (length == 0) return;
  const std::uint64_t first = hpa / kFrameSize * kFrameSize;
  const std::uint64_t end = (hpa + length + kFrameSize - 1) / kFrameSize * kFrameSize;
  // Kernels before 5.14 refuse MADV_POPULATE_WRITE: frames then fault in on first use.
  (void)::madvise(base_ + first, end - first, MADV_POPULATE_WRITE);
}

void HostMemory::zero(std::uint64_t hpa, std::uint64_t length) {
  check_range(hpa, length);
  if (length == 0) return;
  if (!aliases_.empty()) {
    // The file offset of an alias frame is its target's: punch frame by frame.
    for (std::uint64_t f = hpa; f < hpa + length; f += kFrameSize) {
      zero_cells(alias_target(f).value_or(f), kFrameSize);
    }
    return;
  }
  zero_cells(hpa, length);
}

void HostMemory::zero_cells(std::uint64_t hpa, std::uint64_t length) {
  // A hole costs one system call for the run and no page fault here; the frame's first
  // use then allocates a zeroed page in the one fault it would cost anyway (a store through
  // the guest CPU's window, which populating here would not have spared).
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(hpa),
                  static_cast<off_t>(length)) != 0) {
    std::memset(base_ + hpa, 0, length);
  }
}

std::uint8_t* HostMemory::span(std::uint64_t hpa, std::uint64_t length) {
  check_range(hpa, length);
  return base_ + hpa;
}

std::uint64_t HostMemory::resident_bytes() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace cvmsim::hw
