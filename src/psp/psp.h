// The PSP firmware (trusted). The VMM talks to it only through execute(Command); it alone
// holds the privileged hardware ports (PspPasskey) and the chip's keys.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "attest/report.h"
#include "hw/cpu/vcpu_binding.h"
#include "hw/memory_controller.h"
#include "measure/launch_digest.h"
#include "measure/launch_plan.h"
#include "measure/policy.h"
#include "psp/chip_fuses.h"
#include "psp/commands.h"
#include "psp/npt_guard/table_guard.h"
#include "psp/private_memory.h"
#include "psp/status.h"
#include "psp/vm_state.h"

namespace cvmsim::psp {

inline constexpr std::uint32_t kPspFirmwareVersion = 0x000100;  // 0.1.0
inline constexpr std::uint32_t kDefaultMaxAsids = 64;
inline constexpr std::uint64_t kMaxPagesPerMap = 1ull << 18;  // 1 GiB per NPT_MAP

struct PspConfig {
  std::size_t private_memory_budget = kDefaultPrivateMemoryBudget;
  std::uint32_t max_asids = kDefaultMaxAsids;
};

struct PlatformStatusInfo {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  Bytes chip_id;
  std::uint32_t firmware_version = kPspFirmwareVersion;
  std::uint32_t vms = 0;
  std::uint32_t free_asids = 0;
  std::size_t private_memory_used = 0;
  std::size_t private_memory_budget = 0;
};

struct LaunchStartInfo {
  VmHandle vm = 0;
  std::uint32_t asid = 0;
};

// What the VMM may know about a VM (for its run loop and for reports to the user).
struct VmInfo {
  VmState state = VmState::launching;
  StopReason stop_reason = StopReason::none;
  std::uint32_t asid = 0;  // key slot of private memory (0: memory encryption off)
  std::uint64_t npt_root = 0;
  measure::Policy policy;
  measure::VcpuState vcpu;
  std::size_t private_memory = 0;  // bytes of PSP-private memory this VM uses
  std::size_t table_pages = 0;
  std::size_t table_pool = 0;  // donated table frames not yet used
};

struct Response {
  Result result;
  std::variant<std::monostate, PlatformStatusInfo, LaunchStartInfo> payload;
  [[nodiscard]] bool ok() const { return result.ok(); }
};

class Psp {
 public:
  Psp(hw::MemoryController& mc, ChipFuses fuses, PspConfig config = {});
  Psp(const Psp&) = delete;
  Psp& operator=(const Psp&) = delete;
  ~Psp();

  // The mailbox. Every command is validated before anything changes; a failed command
  // leaves the PSP and memory as they were.
  Response execute(const Command& command);

  // The periodic NPT check (PSP timer): verifies every guarded VM's whole table and stops
  // the VMs whose table changed. Returns the handles of the VMs it stopped.
  std::vector<VmHandle> periodic_check();

  [[nodiscard]] std::optional<VmInfo> vm_info(VmHandle vm) const;
  // The binding a vCPU of `vm` runs with (its key slot and NPT root), issued only for a
  // VM that passed LAUNCH_FINISH: the VMM cannot run guest code under a VM's key otherwise.
  [[nodiscard]] std::optional<hw::VcpuBinding> vcpu_binding(VmHandle vm) const;
  [[nodiscard]] crypto::SuiteId suite() const noexcept { return suite_; }
  [[nodiscard]] const PrivateMemory& private_memory() const noexcept { return memory_; }
  [[nodiscard]] std::uint64_t commands_executed() const noexcept { return commands_; }

 private:
  struct Vm;

  // One handler per command: std::visit fails to compile if a command has none.
  Response handle(const PlatformStatus&);
  Response handle(const LaunchStart&);
  Response handle(const LaunchUpdate&);
  Response handle(const LaunchVerify&);
  Response handle(const LaunchFinish&);
  Response handle(const NptDonate&);
  Response handle(const NptMap&);
  Response handle(const NptUnmap&);
  Response handle(const VmStop&);
  Response handle(const Decommission&);

  // The PSP's own accesses: not subject to guards, optionally through a VM's key slot.
  static hw::Requester as_psp(std::uint32_t key_asid = 0) {
    return hw::Requester::psp(hw::PspPasskey{}, key_asid);
  }
  Vm* find(VmHandle vm);
  [[nodiscard]] bool frame_is_free(std::uint64_t hpa) const;
  void scrub_frame(std::uint64_t hpa);
  std::uint64_t take_table_frame(Vm& vm);
  // Table pages the walk for `gpa` passes through (existing ones only).
  std::vector<std::uint64_t> path_tables(const Vm& vm, std::uint64_t gpa);
  // Every table page the walks of [gpa, gpa + pages) pass through.
  std::vector<std::uint64_t> range_tables(const Vm& vm, std::uint64_t gpa, std::uint64_t pages);
  // The checks NPT_MAP and NPT_UNMAP share: the VM exists, may map, and is guarded.
  [[nodiscard]] Result check_guarded_mapping(const Vm* vm, VmHandle handle) const;
  std::uint64_t missing_tables(const Vm& vm, std::uint64_t gpa, std::uint64_t pages);
  Result install(Vm& vm, std::uint64_t gpa, std::uint64_t hpa, std::uint64_t flags);
  void stop(Vm& vm, StopReason reason);

  hw::MemoryController& mc_;
  ChipFuses fuses_;
  crypto::SuiteId suite_;
  PspConfig config_;
  PrivateMemory memory_;
  std::map<VmHandle, std::unique_ptr<Vm>> vms_;
  std::vector<bool> asid_in_use_;
  VmHandle next_handle_ = 1;
  std::uint64_t commands_ = 0;
};

}  // namespace cvmsim::psp
