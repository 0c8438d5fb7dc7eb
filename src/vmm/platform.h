// The simulated machine: host memory, the memory controller, the disk controller and the
// PSP, plus the VMM's (untrusted) frame allocator over host memory.
#pragma once

#include <filesystem>
#include <memory>

#include "hw/disk/disk_controller.h"
#include "hw/host_memory.h"
#include "hw/memory_controller.h"
#include "psp/psp.h"
#include "vmm/frame_allocator.h"

namespace cvmsim::vmm {

struct PlatformOptions {
  std::uint64_t host_memory = hw::kDefaultHostMemory;  // sparse: only touched frames cost
  psp::PspConfig psp;
};

class Platform {
 public:
  Platform(const std::filesystem::path& chip_dir, const PlatformOptions& options = {});

  hw::HostMemory& memory() { return memory_; }
  hw::MemoryController& memory_controller() { return mc_; }
  hw::DiskController& disks() { return disks_; }
  psp::Psp& psp() { return *psp_; }
  FrameAllocator& frames() { return frames_; }

 private:
  hw::HostMemory memory_;
  hw::MemoryController mc_;
  hw::DiskController disks_;
  std::unique_ptr<psp::Psp> psp_;
  FrameAllocator frames_;
};

}  // namespace cvmsim::vmm
