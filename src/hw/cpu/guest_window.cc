#include "hw/cpu/guest_window.h"

#include <sys/mman.h>

#include "hw/hw_error.h"

namespace cvmsim::hw::cpu {

GuestWindow::GuestWindow() {
  void* p = ::mmap(nullptr, kGuestWindowSize, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw HwError(HwErrc::cpu, "cannot reserve host address space for the guest-physical window");
  }
  base_ = static_cast<std::uint8_t*>(p);
}

GuestWindow::~GuestWindow() {
  ::munmap(base_, kGuestWindowSize);
}

bool GuestWindow::alias(std::uint64_t gpa, std::uint64_t length, int fd, std::uint64_t offset) {
  void* p = ::mmap(base_ + gpa, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                   static_cast<off_t>(offset));
  return p != MAP_FAILED;
}

void GuestWindow::prefault(std::uint64_t gpa, std::uint64_t length, bool for_write) {
  // Before Linux 5.14 this fails and the guest's access faults the page in instead.
  (void)::madvise(base_ + gpa, length, for_write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

bool GuestWindow::own_pages(std::uint64_t gpa, std::uint64_t length) {
  void* p = ::mmap(base_ + gpa, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  return p != MAP_FAILED;
}

}  // namespace cvmsim::hw::cpu
