// Host DRAM: 4 KiB frames in a sparse physical address space, kept in one memfd. The whole
// file is mapped once, so a frame's host pointer is base + HPA and any run of frames is
// contiguous in host virtual memory; pages of the file are allocated on first use, so a
// 1 TiB address space costs only the frames in use. Being a file, a frame can also be
// mapped a second time anywhere (mmap of its offset): the guest CPU aliases guest frames
// into its guest-physical window that way (hw/cpu/guest_window.h), as KVM memslots alias
// a VMM's memory.
//
// A platform may have DRAM aliases (hw/dram_alias.h): the alias range of the mapping then
// shows the target's pages of the file (one more mmap at construction), so frame() and
// span() of an alias address reach the target's cells at no cost per access. The file's
// own pages at alias offsets are never used: fd() users map only frames that are no alias
// (MemoryController::direct_frame refuses alias frames).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "hw/dram_alias.h"

namespace cvmsim::hw {

inline constexpr std::uint64_t kFrameSize = 4096;
inline constexpr std::uint64_t kChunkSize = 2ull << 20;          // a huge page's worth of frames
inline constexpr std::uint64_t kDefaultHostMemory = 1ull << 40;  // 1 TiB

class HostMemory {
 public:
  // Throws HwError{bad_address} for a size or alias check_dram_aliases() refuses.
  explicit HostMemory(std::uint64_t size = kDefaultHostMemory, std::vector<DramAlias> aliases = {});
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;
  ~HostMemory();

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  // The frame holding `hpa` (zero-filled until first written). Throws HwError{bad_address}.
  std::uint8_t* frame(std::uint64_t hpa);
  // Makes the frames of [hpa, hpa + length) resident now, in one go (a frame is otherwise
  // made resident by the kernel on its first use). Throws HwError{bad_address}.
  void populate(std::uint64_t hpa, std::uint64_t length);
  // Zero-fills the frames of [hpa, hpa + length) (frame aligned) by returning them to the
  // kernel: they read as zeros and take host memory again on their next use, through
  // whichever mapping touches them first. Throws HwError{bad_address}.
  void zero(std::uint64_t hpa, std::uint64_t length);
  // Host pointer for [hpa, hpa + length). Throws HwError{bad_address}.
  std::uint8_t* span(std::uint64_t hpa, std::uint64_t length);
  // Checks that [hpa, hpa + length) is inside the address space without wrapping.
  void check_range(std::uint64_t hpa, std::uint64_t length) const;
  // Bytes of host memory the frames in use occupy (the file's allocated pages).
  [[nodiscard]] std::uint64_t resident_bytes() const;
  // The memfd behind the frames, for mapping frames elsewhere; offset = HPA (of a frame
  // that is no alias).
  [[nodiscard]] int fd() const noexcept { return fd_; }
  // The platform's DRAM aliases (empty on a sound platform).
  [[nodiscard]] const std::vector<DramAlias>& aliases() const noexcept { return aliases_; }
  // The address whose cells `hpa` reaches when it lies in an alias range, else nullopt.
  [[nodiscard]] std::optional<std::uint64_t> alias_target(std::uint64_t hpa) const noexcept;

 private:
  void zero_cells(std::uint64_t offset, std::uint64_t length);  // file offsets

  std::uint64_t size_;
  int fd_ = -1;
  std::uint8_t* base_ = nullptr;
  std::vector<DramAlias> aliases_;
};

}  // namespace cvmsim::hw
