// Host DRAM: 4 KiB frames in a sparse physical address space. Frames live in 2 MiB chunks
// reserved with mmap on first touch, so a 1 TiB address space costs nothing until used and
// frames that are contiguous in a chunk are contiguous in host virtual memory (the guest
// CPU maps such runs as one region).
#pragma once

#include <cstdint>
#include <memory>

#include "common/bytes.h"
#include "hw/sparse_table.h"

namespace cvmsim::hw {

inline constexpr std::uint64_t kFrameSize = 4096;
inline constexpr std::uint64_t kChunkSize = 2ull << 20;
inline constexpr std::uint64_t kDefaultHostMemory = 1ull << 40;  // 1 TiB

class HostMemory {
 public:
  explicit HostMemory(std::uint64_t size = kDefaultHostMemory);
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;
  ~HostMemory();

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  // The frame holding `hpa`, created zero-filled on first use. Throws HwError{bad_address}.
  std::uint8_t* frame(std::uint64_t hpa);
  // Makes the frames of [hpa, hpa + length) resident now, in one go (a frame is otherwise
  // made resident on its first use). Throws HwError{bad_address}.
  void populate(std::uint64_t hpa, std::uint64_t length);
  // Host pointer for [hpa, hpa + length) when it lies inside one chunk (else nullptr).
  std::uint8_t* span(std::uint64_t hpa, std::uint64_t length);
  // Checks that [hpa, hpa + length) is inside the address space without wrapping.
  void check_range(std::uint64_t hpa, std::uint64_t length) const;
  [[nodiscard]] std::uint64_t resident_chunks() const noexcept { return resident_chunks_; }
  // Bytes of frames made resident (host memory in use).
  [[nodiscard]] std::uint64_t resident_bytes() const;

 private:
  struct Chunk;
  Chunk& chunk_of(std::uint64_t hpa);  // created on first use; `hpa` checked by the caller
  std::uint64_t size_;
  SparseTable<std::unique_ptr<Chunk>> chunks_;  // by chunk number
  std::uint64_t resident_chunks_ = 0;
};

}  // namespace cvmsim::hw
