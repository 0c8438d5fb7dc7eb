// A small platform for exploring command sequences: one chip, two VMs launched
// through the real mailbox (LAUNCH_START .. LAUNCH_FINISH of a one-page firmware, signed
// reference and all), a pool of spare frames, and the PSP timer's periodic check. Actions
// (action.h) are what an untrusted host may do; after each, check() tests the platform's
// invariants (invariants.h) and digest() names the state for deduplication. No guest CPU
// runs: the invariants are the PSP's and the hardware's, whatever a guest would do.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lab/explore/action.h"
#include "lab/world.h"
#include "measure/launch_plan.h"
#include "measure/policy.h"
#include "psp/chip_fuses.h"
#include "psp/status.h"
#include "vmm/platform.h"
#include "vmm/vmm.h"

namespace cvmsim::lab::explore {

inline constexpr std::uint64_t kExploredGpa = 0x40000000;  // 1 GiB: away from the firmware
inline constexpr std::uint64_t kCheckIntervalUs = 1000;

struct WorldConfig {
  measure::GuardMode guard = measure::GuardMode::detect;
  std::size_t vms = 2;
  std::size_t guest_pages = 8;  // explored GPAs per VM: kExploredGpa + i * 4 KiB
  std::size_t pool_frames = 4;  // spare frames actions can name
};

// What every world of one exploration shares, prepared once: the chip, and the launch
// request (a reference the provider signed for the explored firmware under the policy).
// The PSP still checks the reference in every world.
struct WorldSetup {
  WorldSetup(const World& world, const WorldConfig& config);
  psp::ChipFuses fuses;  // loaded (and checked) once; each world's PSP gets a clone
  WorldConfig config;
  vmm::LaunchRequest request;
  measure::LaunchPlan plan;
};

// What the world remembers of a VM slot (the host's view plus what the checks need).
struct VmSlot {
  psp::VmHandle handle = 0;
  std::uint32_t asid = 0;
  std::uint64_t root = 0;
  std::uint64_t firmware_frame = 0;
  bool decommissioned = false;
};

struct StepResult {
  std::optional<psp::Status> status;        // the PSP's answer to a mailbox action
  bool blocked = false;                     // a host write the memory controller refused
  bool tables_matched_before = true;        // the acted-on VM's tables matched the stored value
  std::vector<std::uint64_t> owned_before;  // frames tagged for the acted-on VM before it
};

class SmallWorld {
 public:
  // `setup` must outlive the world.
  explicit SmallWorld(const WorldSetup& setup);
  SmallWorld(const SmallWorld&) = delete;
  SmallWorld& operator=(const SmallWorld&) = delete;
  ~SmallWorld();

  StepResult apply(const Action& action);
  // The invariants that do not hold now (empty: all hold), each a sentence.
  [[nodiscard]] std::vector<std::string> check(const Action& last, const StepResult& result);
  // A canonical digest of everything the invariants and the PSP's answers depend on.
  [[nodiscard]] std::string digest();

  [[nodiscard]] const WorldConfig& config() const noexcept { return config_; }
  [[nodiscard]] const std::vector<VmSlot>& vms() const noexcept { return vms_; }
  vmm::Platform& platform() { return *platform_; }
  [[nodiscard]] std::uint64_t frame_hpa(const FrameRef& frame) const;

 private:
  void launch(VmSlot& slot);
  std::uint64_t take_frame();

  const WorldSetup& setup_;
  const WorldConfig& config_;
  std::unique_ptr<vmm::Platform> platform_;
  std::vector<VmSlot> vms_;
  std::vector<std::uint64_t> pool_;
  std::uint64_t now_us_ = 0;
  // Private frames NPT_UNMAP took, until the VM's vCPUs have flushed past the epoch of the
  // unmap (the host's record: the checks compare it with frame tags and the PSP's epochs).
  struct Unmapped {
    std::uint64_t frame = 0;
    std::size_t vm = 0;  // slot
    std::uint64_t epoch = 0;
  };
  std::vector<Unmapped> unmapped_;
};

}  // namespace cvmsim::lab::explore
