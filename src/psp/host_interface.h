// The PSP as the untrusted host reaches it: the whole boundary between the hypervisor and
// the PSP firmware is this class (docs/architecture.md, "Trust boundaries").
//
// - The mailbox (execute): every command the host may send, psp/commands.h.
// - Two status reads, as a real PSP exposes them in status registers or returns them to
//   VMRUN: a VM's state and counters (vm_info), and the binding a vCPU of a launched VM
//   runs with (vcpu_binding). Neither changes anything.
// - The platform timer: the host sets the periodic check's period and budget once (as
//   SEV's SNP_INIT takes the host's parameters), the platform's clock drives the timer
//   (advance_clock: the ticks that fell due run, and may stop a tampered VM), and
//   next_check_us says when the next tick is due, where a vCPU's run must end as the
//   timer's interrupt would end it.
//
// The VMM holds a HostInterface& and nothing else of the PSP. Observers use more of
// psp::Psp: the CLI's reports, the attack lab when it measures an outcome (commands
// executed, the boot-time check, whether the tables still verify), benchmarks and tests.
// None of them acts for the host through it.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"
#include "hw/cpu/vcpu_binding.h"
#include "measure/launch_plan.h"
#include "measure/policy.h"
#include "psp/commands.h"
#include "psp/status.h"
#include "psp/vm_state.h"

namespace cvmsim::psp {

inline constexpr std::uint32_t kPspFirmwareVersion = 0x000100;  // 0.1.0

// The PSP timer's periodic NPT check (docs/architecture.md, "Guarded NPT"). Every
// `interval_us` simulated microseconds each guarded VM gets `pages_per_tick` of its table
// pages checked (merkle; 0 = the whole table each tick; `full` always checks the whole
// table), so tampering is found within ceil(table pages / pages_per_tick) intervals.
struct PeriodicCheckConfig {
  std::uint64_t interval_us = 0;  // 0: timer off
  std::uint64_t pages_per_tick = 0;
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
  std::size_t table_pool = 0;              // donated table frames not yet used
  std::size_t guard_frames = 0;            // donated frames holding the Merkle tree
  std::size_t guard_directory_bytes = 0;   // the guard's frame/table lists (see TableGuard)
  std::size_t guard_unsettled_leaves = 0;  // Merkle leaves not yet under the root
  std::uint64_t tlb_epoch = 0;             // advanced by TLB_TRACK
  std::uint64_t tlb_oldest_flush = 0;      // the epoch of the least recent vCPU flush
  std::size_t frames_awaiting_flush = 0;   // unmapped frames not yet free to change hands
};

// What the VMM learns of a secure call it forwarded: which call it was (the port write
// tells it as much on real hardware too) and its status; never the contents.
struct SecureCallInfo {
  std::uint16_t call = 0;
};

struct Response {
  Result result;
  std::variant<std::monostate, PlatformStatusInfo, LaunchStartInfo, SecureCallInfo> payload;
  [[nodiscard]] bool ok() const { return result.ok(); }
  // A refusal without payload: the handlers' common answer.
  static Response refused(Status s, std::uint64_t detail = 0) {
    return {Result::failure(s, detail), {}};
  }
};

class HostInterface {
 public:
  virtual ~HostInterface() = default;

  // The mailbox. Every command is validated before anything changes; a failed command
  // leaves the PSP and memory as they were.
  virtual Response execute(const Command& command) = 0;
  // What the host may know of a VM (nullopt: no such VM).
  [[nodiscard]] virtual std::optional<VmInfo> vm_info(VmHandle vm) const = 0;
  // The binding a vCPU of `vm` runs with (its key slot and NPT root), issued only for a
  // VM that passed LAUNCH_FINISH: the host cannot run guest code under a VM's key otherwise.
  [[nodiscard]] virtual std::optional<hw::VcpuBinding> vcpu_binding(VmHandle vm) const = 0;
  // The PSP timer: its period and budget (interval 0: off).
  virtual void set_periodic_check(const PeriodicCheckConfig& config) = 0;
  // The platform's simulated time (sim-us) reached `now_us`: runs the ticks that fell due
  // and returns the VMs they stopped.
  virtual std::vector<VmHandle> advance_clock(std::uint64_t now_us) = 0;
  // When the next tick is due, in sim-us (nullopt while the timer is off).
  [[nodiscard]] virtual std::optional<std::uint64_t> next_check_us() const = 0;
};

}  // namespace cvmsim::psp
