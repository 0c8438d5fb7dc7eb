#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <bitset>

#include "common/checked.h"
#include "hw/host_memory.h"
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

// One 2 MiB chunk of anonymous memory whose frames are populated one at a time, on their
// first use, by a store. Left to fault in on their own, fresh frames cost two page faults
// each (the zero page on the first read, copy on write on the first write), several
// microseconds inside NPT_MAP and DMA (docs/benchmarks.md, "NPT_MAP in the PSP").
// Populating more than the frame was tried: the whole chunk at creation zeroed 2 MiB for
// each fault in a fresh block of the VMM's huge-page backing (about 1 ms here), and 64 KiB
// groups zeroed 16 frames for a guest touching one page in 64 KiB; host memory in use is
// now the frames in use. Transparent huge pages were tried and rejected: no better in the
// median, and millisecond stalls in the tail.
struct HostMemory::Chunk {
  Chunk() {
    void* p = ::mmap(nullptr, kChunkSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base = static_cast<std::uint8_t*>(p);
  }
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk() { ::munmap(base, kChunkSize); }

  std::uint8_t* frame(std::size_t index) {
    std::uint8_t* f = base + index * kFrameSize;
    if (!populated[index]) {
      // Still all zeros: storing a zero has the kernel allocate the page writable in one
      // fault, before anything reads it.
      *static_cast<volatile std::uint8_t*>(f) = 0;
      populated[index] = true;
    }
    return f;
  }

  // Populates frames [first, first + count) in one system call (MADV_POPULATE_WRITE; on
  // kernels before 5.14 it fails and frame() populates them one by one).
  void populate(std::size_t first, std::size_t count) {
    if (::madvise(base + first * kFrameSize, count * kFrameSize, MADV_POPULATE_WRITE) != 0) return;
    for (std::size_t i = first; i < first + count; ++i) populated[i] = true;
  }

  std::uint8_t* base = nullptr;
  std::bitset<kChunkSize / kFrameSize> populated;
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

HostMemory::Chunk& HostMemory::chunk_of(std::uint64_t hpa) {
  auto& chunk = chunks_.at(hpa / kChunkSize);
  if (!chunk) {
    chunk = std::make_unique<Chunk>();
    ++resident_chunks_;
  }
  return *chunk;
}

std::uint8_t* HostMemory::frame(std::uint64_t hpa) {
  check_range(hpa, 1);
  return chunk_of(hpa).frame((hpa % kChunkSize) / kFrameSize);
}

void HostMemory::populate(std::uint64_t hpa, std::uint64_t length) {
  check_range(hpa, length);
  if (length == 0) return;
  const std::uint64_t end = hpa + length;  // checked above
  for (std::uint64_t at = hpa / kFrameSize * kFrameSize; at < end;) {
    const std::uint64_t chunk_end = std::min(end, (at / kChunkSize + 1) * kChunkSize);
    const std::size_t first = at % kChunkSize / kFrameSize;
    chunk_of(at).populate(first, (chunk_end - at + kFrameSize - 1) / kFrameSize);
    at = chunk_end;
  }
}

std::uint64_t HostMemory::resident_bytes() const {
  std::uint64_t frames = 0;
  chunks_.for_each([&](std::uint64_t, const std::unique_ptr<Chunk>& chunk) {
    if (chunk) frames += chunk->populated.count();
  });
  return frames * kFrameSize;
}

std::uint8_t* HostMemory::span(std::uint64_t hpa, std::uint64_t length) {
  check_range(hpa, length);
  if (length == 0 || hpa / kChunkSize != (hpa + length - 1) / kChunkSize) return nullptr;
  for (std::uint64_t f = hpa / kFrameSize + 1; f <= (hpa + length - 1) / kFrameSize; ++f) {
    (void)frame(f * kFrameSize);  // every frame of the span is in use from now on
  }
  return frame(hpa) + hpa % kFrameSize;
}

}  // namespace cvmsim::hw
