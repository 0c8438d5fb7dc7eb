// The simulated machine: host memory, the memory controller, the disk controller and the
// PSP, plus the VMM's (untrusted) frame allocator over host memory.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "common/sim_clock.h"
#include "hw/disk/disk_controller.h"
#include "hw/host_memory.h"
#include "hw/memory_controller.h"
#include "psp/psp.h"
#include "trace/trace.h"
#include "vmm/frame_allocator.h"

namespace cvmsim::vmm {

struct PlatformOptions {
  std::uint64_t host_memory = hw::kDefaultHostMemory;  // sparse: only touched frames cost
  psp::PspConfig psp{};
  // DRAM aliases of the platform's hardware (a tampered SPD, BadRAM; hw/dram_alias.h):
  // empty on a sound platform. The PSP's boot-time check refuses to start on one.
  std::vector<hw::DramAlias> dram_aliases{};
  // Records the platform's events while it exists (not owned; null: tracing off).
  trace::Recorder* trace = nullptr;
};

class Platform {
 public:
  Platform(const std::filesystem::path& chip_dir, const PlatformOptions& options = {});
  // A platform of a chip whose fuses are already loaded (psp::ChipFuses::clone()).
  explicit Platform(psp::ChipFuses fuses, const PlatformOptions& options = {});
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;
  ~Platform();

  hw::HostMemory& memory() { return memory_; }
  hw::MemoryController& memory_controller() { return mc_; }
  hw::DiskController& disks() { return disks_; }
  psp::Psp& psp() { return *psp_; }
  FrameAllocator& frames() { return frames_; }
  // The platform's simulated clock (docs/architecture.md, "Simulated time").
  SimClock& clock() { return clock_; }
  // The event trace, or null when tracing is off.
  trace::Recorder* trace() { return trace_; }

 private:
  SimClock clock_;
  trace::Recorder* trace_;
  hw::HostMemory memory_;
  hw::MemoryController mc_;
  hw::DiskController disks_;
  std::unique_ptr<psp::Psp> psp_;
  FrameAllocator frames_;
};

}  // namespace cvmsim::vmm
