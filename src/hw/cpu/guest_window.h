// The guest-physical window: one reservation of host virtual memory that stands for a
// vCPU's whole guest-physical space, handed to Unicorn as a single region. Guest frames
// appear in it where the NPT puts them because the window maps host memory's file
// (HostMemory::fd) at their offsets, with mmap(MAP_FIXED | MAP_SHARED): the kernel's page
// tables do the aliasing, as with KVM memslots, and Unicorn never needs a region per
// block. A page nothing was mapped at is an inaccessible hole.
//
// The window grants no rights by itself: Unicorn sees it as a region without rights and
// asks the guest CPU's permission hooks before it touches a page (hw/cpu/window_tlb.h).
#pragma once

#include <cstdint>

namespace cvmsim::hw::cpu {

// Guest-physical addresses the window covers: [0, kGuestWindowSize). Reserving address
// space costs nothing until pages are mapped.
inline constexpr std::uint64_t kGuestWindowSize = 1ull << 40;  // 1 TiB

class GuestWindow {
 public:
  GuestWindow();  // throws HwError{cpu} when the reservation fails
  GuestWindow(const GuestWindow&) = delete;
  GuestWindow& operator=(const GuestWindow&) = delete;
  ~GuestWindow();

  [[nodiscard]] std::uint8_t* base() const noexcept { return base_; }
  // Maps `length` bytes of `fd` from `offset` at [gpa, gpa + length) (all page aligned,
  // inside the window). False when the kernel refuses (the caller reports it).
  [[nodiscard]] bool alias(std::uint64_t gpa, std::uint64_t length, int fd, std::uint64_t offset);
  // Has the kernel fill in the page table entries of [gpa, gpa + length) now, in one
  // system call, rather than in a page fault at the guest's first access (a fault taken
  // inside Unicorn's store helper costs several times more on this host kind).
  void prefault(std::uint64_t gpa, std::uint64_t length, bool for_write);
  // Gives [gpa, gpa + length) private zero-filled pages of its own (a page whose bytes the
  // guest CPU computes, such as another VM's frame as this vCPU sees it).
  [[nodiscard]] bool own_pages(std::uint64_t gpa, std::uint64_t length);

 private:
  std::uint8_t* base_ = nullptr;
};

}  // namespace cvmsim::hw::cpu
