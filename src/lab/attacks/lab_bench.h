// The bench the scenarios share: a lab::World with its platform and hypervisor, the victim
// guest's layout (guest/programs/attack_victim.c), and the host's powers over NPT entries
// and frames written out once (host walks of the tables, host writes that the memory
// controller may refuse), so each scenario reads as the attack it performs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lab/attacks/catalogue.h"
#include "lab/world.h"
#include "vmm/vmm.h"

namespace cvmsim::lab::attacks {

// guest/programs/attack_victim.c
inline constexpr std::uint64_t kSecretGpa = 0x2000000;
inline constexpr std::uint64_t kEchoGpa = 0x3000000;
inline constexpr std::uint64_t kRecordGpa = 0x4000000;
inline constexpr std::uint64_t kReadOnlyGpa = 0x5000000;
inline constexpr std::uint64_t kBitSlotGpa = 0x6000000;  // 'z' / 'b': the secret's bits
inline constexpr std::size_t kKeyOffset = 18;            // kSecret's key, after "k3y="
inline constexpr std::string_view kSecret = "TENANT-SECRET:k3y=5f2b9c0d41e8a7763b1c";
inline constexpr std::string_view kPublic = "public echo buffer: nothing to see here....";
inline constexpr std::size_t kEchoBytes = 48;
inline constexpr std::uint64_t kVictimMemory = 128ull << 20;

// An embedded guest program (guest/CMakeLists.txt, CVMSIM_EMBEDDED_GUESTS).
Bytes guest_program(std::string_view name);
measure::Policy policy_for(measure::GuardMode guard, bool memory_encryption = true);
// The same with the run's memory protections (RunOptions::memory_integrity, ...).
measure::Policy policy_for(const RunOptions& options, measure::GuardMode guard);
// Printable rendering of leaked bytes for a report ('.' for the rest).
std::string printable(ByteView bytes, std::size_t max = 48);

class Bench {
 public:
  // `platform` configures the platform's hardware and PSP (its trace is options.trace).
  Bench(const RunOptions& options, std::size_t chips = 1, std::size_t platform_chip = 0,
        vmm::PlatformOptions platform = {});

  World& world() { return world_; }
  vmm::Platform& platform() { return *platform_; }
  vmm::Vmm& vmm() { return *vmm_; }
  measure::GuardMode guard() const { return guard_; }
  const RunOptions& options() const { return options_; }

  // The victim guest with `commands` on its host channel, in the bench's guard mode and
  // with the run's memory protections.
  psp::VmHandle launch_victim(std::string_view commands,
                              std::optional<measure::GuardMode> guard = {});
  vmm::LaunchRequest victim_request(std::string_view commands,
                                    std::optional<measure::GuardMode> guard = {}) const;

  // --- the host's powers (what any hypervisor has) ---
  [[nodiscard]] std::uint64_t npt_root(psp::VmHandle vm);
  // The host address of the leaf entry for `gpa` (nullopt: a table is missing).
  std::optional<std::uint64_t> leaf_entry(psp::VmHandle vm, std::uint64_t gpa);
  std::optional<std::uint64_t> frame_of(psp::VmHandle vm, std::uint64_t gpa);
  std::uint64_t read_entry(std::uint64_t entry_hpa);
  // Host write of an NPT entry; false when the memory controller refuses it (isolate).
  bool write_entry(std::uint64_t entry_hpa, std::uint64_t value);
  // Points the leaf entry of `gpa` at `hpa` (rwx), creating missing tables with host
  // writes, then flushes the VM's TLB; false when the memory controller refuses a write.
  bool host_map(psp::VmHandle vm, std::uint64_t gpa, std::uint64_t hpa, std::uint64_t flags = 0);
  // A frame of `vm` whose tag says `use` (the frame-tag table is readable hardware state).
  std::optional<std::uint64_t> frame_used_as(psp::VmHandle vm, hw::FrameUse use);
  // Maps one fresh frame at `gpa` through the PSP (guarded modes), donating tables.
  psp::Result psp_map(psp::VmHandle vm, std::uint64_t gpa, psp::MapPermissions perms);

 private:
  RunOptions options_;
  measure::GuardMode guard_;
  World world_;
  std::unique_ptr<vmm::Platform> platform_;
  std::unique_ptr<vmm::Vmm> vmm_;
};

// A misbehaviour that acts when the guest asks the host channel for its k-th byte (the
// victim's k-th command; 0-based), before the VMM answers: the guest has done all the
// work of the earlier commands by then. Records the simulated time and PSP command count
// of the last action.
class AtCommand : public vmm::Misbehaviour {
 public:
  using Action = std::function<void(vmm::Platform&, vmm::Vmm&, psp::VmHandle)>;
  void at(std::size_t command, Action action) { actions_.push_back({command, std::move(action)}); }
  void on_exit(vmm::Platform& platform, vmm::Vmm& vmm, psp::VmHandle vm,
               const hw::VmExit& exit) override;
  [[nodiscard]] std::optional<std::uint64_t> acted_at_us() const { return acted_at_us_; }
  [[nodiscard]] std::uint64_t acted_at_commands() const { return acted_at_commands_; }

 private:
  std::vector<std::pair<std::size_t, Action>> actions_;
  std::size_t reads_ = 0;
  std::optional<std::uint64_t> acted_at_us_;
  std::uint64_t acted_at_commands_ = 0;
};

// How the PSP noticed NPT tampering during a run, if it did: the periodic check (the VM
// was stopped) or the pre-update check of an NPT_MAP (the VMM's map was refused).
struct Detection {
  std::string by;
  Layer layer = Layer::none;
  psp::Status status = psp::Status::success;
  std::uint64_t after_us = 0;
  std::uint64_t after_commands = 0;
};
std::optional<Detection> npt_detection(const vmm::RunResult& run, const AtCommand& attack,
                                       vmm::Platform& platform);
// Fills the detection fields of `outcome` (and its note when the attack succeeded first).
void record_detection(Outcome& outcome, const std::optional<Detection>& detection);

}  // namespace cvmsim::lab::attacks
