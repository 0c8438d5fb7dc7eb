#include "vmm/platform.h"

#include "psp/chip_fuses.h"

namespace cvmsim::vmm {
namespace {

// The VMM hands out frames above the first 16 MiB of host memory (kept for the host).
constexpr std::uint64_t kHostReserved = 16ull << 20;

}  // namespace

Platform::Platform(const std::filesystem::path& chip_dir, const PlatformOptions& options)
    : Platform(psp::load_chip_fuses(chip_dir), options) {}

Platform::Platform(psp::ChipFuses fuses, const PlatformOptions& options)
    : trace_(options.trace),
      memory_(options.host_memory, options.dram_aliases),
      mc_(memory_, fuses.identity.suite),
      disks_(mc_),
      psp_(std::make_unique<psp::Psp>(mc_, disks_, std::move(fuses), options.psp)),
      frames_(kHostReserved, (options.host_memory - kHostReserved) / hw::kFrameSize) {
  if (trace_ != nullptr) {
    trace_->attach(clock_);
    mc_.set_trace(trace_);
    disks_.set_trace(trace_);
    psp_->set_trace(trace_);
  }
}

Platform::~Platform() {
  if (trace_ != nullptr) trace_->detach();
}

}  // namespace cvmsim::vmm
