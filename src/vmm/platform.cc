#include "vmm/platform.h"

#include "psp/chip_fuses.h"

namespace cvmsim::vmm {
namespace {

// The VMM hands out frames above the first 16 MiB of host memory (kept for the host).
constexpr std::uint64_t kHostReserved = 16ull << 20;

}  // namespace

Platform::Platform(const std::filesystem::path& chip_dir, const PlatformOptions& options)
    : trace_(options.trace),
      memory_(options.host_memory),
      mc_(memory_, pki::load_chip(chip_dir).suite),
      disks_(mc_),
      psp_(std::make_unique<psp::Psp>(mc_, disks_, psp::load_chip_fuses(chip_dir), options.psp)),
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
