// The hypervisor (untrusted): launches VMs through the PSP (psp::HostInterface, nothing
// else of it), runs their vCPUs, serves nested page faults by asking the PSP to map frames
// (or, with the guard off, by editing the tables itself), forwards secure calls, delivers
// the disk's interrupts, and prints the console.
#pragma once

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/guest_cpu.h"
#include "measure/policy.h"
#include "vmm/misbehaviour.h"
#include "vmm/platform.h"
#include "vmm/sim_costs.h"

namespace cvmsim::vmm {

struct LaunchRequest {
  Bytes firmware;
  Bytes reference;     // CVMSREF1
  Bytes provider_key;  // the provider's public key (PEM or DER) for LAUNCH_VERIFY
  measure::Policy policy;
  std::uint64_t memory_size = 256ull << 20;  // guest-physical bytes the VM may touch
  // The VM's disk (an encrypted image), plugged into the disk controller at launch.
  std::optional<std::filesystem::path> disk;
  bool disk_writable = true;
  Bytes host_input;  // what the guest reads from the host-data port (e.g. a nonce)
};

// Default pages mapped per nested page fault (Vmm::set_fault_around).
inline constexpr std::uint64_t kDefaultFaultAround = 16;
// Default interval of the PSP's periodic NPT check, simulated microseconds.
inline constexpr std::uint64_t kDefaultCheckIntervalUs = 1000;
// Console bytes a run keeps; the rest is counted (RunResult::console_dropped), not kept, so
// a guest that floods the console cannot exhaust the host's memory.
inline constexpr std::size_t kMaxConsoleBytes = 1 << 20;

// time_limit: the run's simulated-time bound (deterministic). host_timeout: the host's
// wall-clock safety net cut the run short (depends on the host: not a simulated outcome).
enum class VmFate { exited, halted, guest_fault, stopped_by_psp, time_limit, host_timeout };
std::string_view to_string(VmFate fate);

struct RunLimits {
  // Simulated time the run may take before the VM is stopped with VmFate::time_limit.
  std::uint64_t max_sim_ns = kDefaultMaxSimNs;
  // The host's safety net: a wall-clock deadline (cvmsim run --timeout). It never changes
  // simulated time or the order of events; a run it ends is VmFate::host_timeout.
  std::optional<std::chrono::steady_clock::time_point> host_deadline{};
};

struct VmStats {
  std::uint64_t exits = 0;
  std::uint64_t nested_page_faults = 0;
  std::uint64_t pages_mapped = 0;
  std::uint64_t psp_commands = 0;
  std::uint64_t secure_calls = 0;
  std::uint64_t secure_calls_refused = 0;
  std::uint64_t interrupts_injected = 0;
  std::uint64_t simulated_us = 0;             // the platform's simulated clock when the run ended
  std::uint64_t code_bytes = 0;               // guest code executed (bytes of translation blocks)
  std::uint64_t preemptions = 0;              // entries that ended at their simulated-time budget
  std::optional<std::uint64_t> instructions;  // guest instructions, when counted
};

struct RunResult {
  VmFate fate = VmFate::halted;
  std::optional<std::uint32_t> exit_status;
  std::string console;
  std::uint64_t console_dropped = 0;  // console bytes past kMaxConsoleBytes
  Bytes host_output;                  // what the guest wrote to the host-data port
  std::string detail;
  VmStats stats;
};

class Vmm {
 public:
  explicit Vmm(Platform& platform);
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;
  ~Vmm();

  // LAUNCH_START .. LAUNCH_FINISH; throws VmmError{launch_refused} naming the PSP status.
  psp::VmHandle launch(const LaunchRequest& request);
  // Runs the VM until it exits, halts, faults, is stopped or reaches a limit.
  RunResult run(psp::VmHandle vm, const RunLimits& limits = {});
  void decommission(psp::VmHandle vm);
  // The disk-controller port of a VM's disk (the raw image file is the host's to read).
  [[nodiscard]] std::optional<std::uint32_t> disk_port(psp::VmHandle vm) const;
  // What any hypervisor can do to a vCPU: drop its cached translations, read its registers.
  void flush_tlb(psp::VmHandle vm);
  // Unmaps guest pages as an honest hypervisor does: NPT_UNMAP, then TLB_TRACK and a flush
  // of the VM's vCPU, after which the PSP lets the frames change hands (docs/architecture.md,
  // "TLB tracking"). The first refusal is returned.
  psp::Result unmap(psp::VmHandle vm, std::uint64_t gpa, std::uint64_t pages);
  [[nodiscard]] std::optional<hw::Registers> registers(psp::VmHandle vm) const;
  // Queues an interrupt for the VM's vCPU, as any hypervisor can: nothing ties a vector
  // to an event (the guest acts on the PSP's completion records, not on interrupts).
  void inject_interrupt(psp::VmHandle vm, std::uint8_t vector);
  // Attack scenarios: the hypervisor's misbehaviour (null: a well-behaved VMM).
  void set_misbehaviour(std::shared_ptr<Misbehaviour> misbehaviour) {
    misbehaviour_ = std::move(misbehaviour);
  }
  Platform& platform() noexcept { return platform_; }

  // The PSP timer's periodic NPT check, in simulated microseconds (0: off; default
  // kDefaultCheckIntervalUs) and table pages per tick (0: the whole table each tick).
  void set_check_interval(std::uint64_t sim_us, std::uint64_t pages_per_tick = 0) {
    psp_.set_periodic_check({sim_us, pages_per_tick});
  }
  // Pages the VMM asks the PSP to map per nested page fault in guarded modes: the
  // aligned range around the faulting page (a power of two, 1..512; default
  // kDefaultFaultAround). Larger ranges mean fewer faults, each costing more.
  void set_fault_around(std::uint64_t pages);
  // Options for the vCPUs of VMs launched from now on (e.g. counting instructions, which
  // makes guest code about 17x slower; docs/benchmarks.md, "Guest CPU").
  void set_cpu_options(hw::CpuOptions options) { cpu_options_ = options; }
  [[nodiscard]] std::uint64_t fault_around() const noexcept { return fault_around_; }
  // The platform's simulated clock, sim-us since start (docs/architecture.md).
  [[nodiscard]] std::uint64_t simulated_us() const noexcept { return platform_.clock().now_us(); }

 private:
  struct GuestVm;
  psp::Response call(GuestVm& vm, const psp::Command& command);
  void expect(GuestVm& vm, const psp::Command& command);
  void donate_tables(GuestVm& vm, std::size_t frames);
  // Frames for donations, taken in order from a 2 MiB-aligned run the VMM keeps for them
  // and made resident as they are handed out.
  std::vector<std::uint64_t> take_donation_frames(std::size_t frames);
  std::uint64_t take_frames(std::uint64_t count);
  struct Backing {
    std::uint64_t hpa = 0;
    bool reserved = false;  // from the VM's 2 MiB backing (kept when a map fails)
  };
  // Host frames for `pages` guest pages at `gpa`.
  Backing back(GuestVm& vm, std::uint64_t gpa, std::uint64_t pages);
  bool handle_npf(GuestVm& vm, const hw::npt::Fault& fault, std::string& why);
  bool map_unguarded(GuestVm& vm, std::uint64_t gpa);
  // Routes the interrupts the disk controller raised to the VMs whose ports raised them
  // (the host's interrupt controller), on the run loop, never from inside the hardware.
  void deliver_disk_interrupts();
  void handle_io_out(GuestVm& vm, const hw::VmExit& exit, RunResult& result);
  std::uint32_t handle_io_in(GuestVm& vm, const hw::VmExit& exit);
  // One vCPU entry: runs until the next exit or the entry's simulated-time budget, then
  // charges the executed code and the exit to the clock and lets the PSP timer catch up.
  hw::VmExit enter(GuestVm& vm, std::uint64_t end_ns, const RunLimits& limits);
  // Records a VMM-side event in the trace (does nothing while tracing is off).
  void trace(const GuestVm& vm, trace::Actor actor, std::optional<trace::Actor> target,
             std::string name, const char* category,
             nlohmann::json args = nlohmann::json::object());

  Platform& platform_;
  // All the VMM reaches of the PSP: the mailbox, two status reads and the timer.
  psp::HostInterface& psp_;
  std::shared_ptr<Misbehaviour> misbehaviour_;
  std::map<psp::VmHandle, std::unique_ptr<GuestVm>> vms_;
  std::uint64_t fault_around_ = kDefaultFaultAround;
  hw::CpuOptions cpu_options_;
  // What is left of the run donations are taken from. Carving them from whole 2 MiB runs
  // keeps the allocator's free space in a few large runs: donations cut from the front of
  // the free space left a small run behind every 2 MiB, which every later aligned
  // allocation (a guest block's backing) had to step over.
  FrameRun donation_run_{};
};

}  // namespace cvmsim::vmm
