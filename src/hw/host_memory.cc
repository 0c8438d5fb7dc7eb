#include "hw/host_memory.h"

#include <fmt/format.h>
#include <sys/mman.h>

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
  }
  return "unknown";
}

// One 2 MiB chunk of anonymous memory, populated (zero-filled) when it is created: left to
// fault page by page, every fresh 4 KiB frame cost two page faults (the zero page on the
// first read, copy on write on the first write), several microseconds inside NPT_MAP and
// DMA (docs/benchmarks.md, "NPT_MAP in the PSP"). Frames are handed out densely, so a
// touched chunk is used. Transparent huge pages were tried and rejected: no better in the
// median, and millisecond stalls in the tail.
struct HostMemory::Chunk {
  Chunk() {
    void* p = ::mmap(nullptr, kChunkSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base = static_cast<std::uint8_t*>(p);
    // Advice only: on kernels before 5.14 it fails and pages fault in lazily as before.
    ::madvise(base, kChunkSize, MADV_POPULATE_WRITE);
  }
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk() { ::munmap(base, kChunkSize); }
  std::uint8_t* base = nullptr;
};

HostMemory::HostMemory(std::uint64_t size) : size_(size), chunks_(size / kChunkSize) {
  if (size == 0 || size % kChunkSize != 0) {
    throw HwError(HwErrc::bad_address,
                  fmt::format("host memory size {:#x} is not a positive multiple of 2 MiB", size));
  }
}

HostMemory::~HostMemory() = default;

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
  auto& chunk = chunks_.at(hpa / kChunkSize);
  if (!chunk) {
    chunk = std::make_unique<Chunk>();
    ++resident_chunks_;
  }
  return chunk->base + (hpa % kChunkSize) / kFrameSize * kFrameSize;
}

std::uint8_t* HostMemory::span(std::uint64_t hpa, std::uint64_t length) {
  check_range(hpa, length);
  if (length == 0 || hpa / kChunkSize != (hpa + length - 1) / kChunkSize) return nullptr;
  return frame(hpa) + hpa % kFrameSize;
}

}  // namespace cvmsim::hw
