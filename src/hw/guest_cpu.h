// The guest CPU: Unicorn 2 running x86-64 code in 64-bit mode, with our nested page tables
// and memory controller behind every access (docs/architecture.md, "Guest memory path").
//
// Boot state: Unicorn's UC_MODE_64 starts directly in 64-bit mode (flat segments, CR0.PE,
// EFER.LME/LMA) with guest paging off, so guest addresses are GPAs. No GDT or page tables
// are needed in guest memory.
//
// How a VMM drives it:
//
//   GuestCpu cpu(mc, binding);            // binding: issued by the PSP (VcpuBinding)
//   cpu.set_entry(rip, rsp, rflags);
//   for (;;) {
//     VmExit e = cpu.run({.code_bytes = budget});
//     switch (e.kind) {
//       case nested_page_fault: ask the PSP to map e.fault.gpa (or give up); break;
//       case io_out:  console / secure call (e.value = request GPA) / exit port; break;
//       case io_in:   cpu.complete_io_in(value); break;
//       case halt: case preempted: case instruction_limit: case host_timeout: ...; break;
//       case guest_fault: the VM is dead unless the VMM restarts it with set_registers();
//     }
//   }
//
// Exits are exact: the guest is suspended *inside* the instruction that trapped (the
// emulator runs on a fiber), and run() finishes that instruction: a faulting access is
// retried against the NPT as it then is, OUT has completed, IN returns the VMM's value.
// Other stops (the simulated-time budget, the host safety net) happen only at
// translation-block starts, where Unicorn's RIP is exact. Translations stay cached (stale) until
// flush_tlb(), as on hardware; code bytes rewritten through the memory controller are re-fetched
// after the exit. One GuestCpu per vCPU; not thread-safe (its preemption timer thread only sets a
// flag).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "hw/cpu/vcpu_binding.h"
#include "hw/cpu/vm_exit.h"
#include "hw/memory_controller.h"
#include "hw/npt.h"

struct uc_struct;

namespace cvmsim::hw {

namespace cpu {
class Fiber;
class WindowTlb;
class Watchdog;
}  // namespace cpu

struct CpuOptions {
  // Counts executed instructions (stats().instructions, RunLimits::instructions). Costs a
  // hook on every instruction: about 17x slower guest code (docs/benchmarks.md).
  bool count_instructions = false;
};

// Guest work is measured in bytes of executed translation blocks: the block hook knows
// each block's size, so counting costs an addition per block, and the same guest code
// executes the same bytes on any host. The VMM turns them into simulated time
// (docs/architecture.md, "Simulated time").
struct RunLimits {
  // The simulated-time budget of this entry: once this many more code bytes have run, the
  // vCPU stops at the next block start (a `preempted` exit). None: no budget.
  std::optional<std::uint64_t> code_bytes{};
  std::optional<std::uint64_t> instructions{};  // needs CpuOptions::count_instructions
  // The host's safety net (a wall-clock bound on the whole run): when it passes, the vCPU
  // stops at the next block start with a `host_timeout` exit. It never moves simulated
  // time; a run it ends is reported as cut short by the host, not as a guest outcome.
  std::optional<std::chrono::steady_clock::time_point> host_deadline{};
};

struct Registers {
  std::uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
  std::uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  std::uint64_t rip = 0, rflags = 0x2;
};

struct CpuStats {
  std::uint64_t exits = 0;
  std::uint64_t nested_page_faults = 0;
  std::uint64_t io_exits = 0;
  std::uint64_t instructions = 0;          // only with CpuOptions::count_instructions
  std::uint64_t code_bytes = 0;            // bytes of executed translation blocks (guest work)
  std::uint64_t tlb_fills = 0;             // TLB misses served from the NPT without an exit
  std::uint64_t blocks_aliased = 0;        // 2 MiB blocks aliased into the window in one go
  std::uint64_t pages_aliased = 0;         // single pages aliased (a frame off its block's run)
  std::uint64_t foreign_pages_mapped = 0;  // pages reached through the memory controller
  std::uint64_t tlb_flushes = 0;
  // Times translated code was dropped because bytes it came from were written through the
  // memory controller, or the page it came from was re-tagged (its next fetch re-translates).
  std::uint64_t code_drops = 0;
  // Cached pages dropped early because their frame was re-tagged under them.
  std::uint64_t tlb_revocations = 0;
};

class GuestCpu {
 public:
  GuestCpu(MemoryController& mc, const VcpuBinding& binding, CpuOptions options = {});
  GuestCpu(const GuestCpu&) = delete;
  GuestCpu& operator=(const GuestCpu&) = delete;
  ~GuestCpu();

  void set_entry(std::uint64_t rip, std::uint64_t rsp, std::uint64_t rflags);
  // Reading is always allowed (after an exit inside an instruction, rip is that of its
  // translation block). Writing abandons a trapped instruction: it restarts the vCPU.
  [[nodiscard]] Registers registers() const;
  void set_registers(const Registers& regs);
  [[nodiscard]] std::uint64_t rip() const;

  VmExit run(const RunLimits& limits = {});
  // The value an IN that caused an io_in exit reads (default: all ones, a floating bus).
  void complete_io_in(std::uint32_t value) { in_value_ = value; }
  // Drops every cached translation; NPT edits made since become visible. Recorded in the
  // VM's TLB tracker; an entry after the VM's epoch moved (TLB_TRACK) flushes by itself.
  void flush_tlb();

  [[nodiscard]] CpuStats stats() const;
  // Bytes of translation blocks executed so far: the guest work simulated time charges.
  [[nodiscard]] std::uint64_t code_bytes() const noexcept { return code_bytes_; }
  [[nodiscard]] std::uint32_t asid() const noexcept { return binding_.key_asid(); }
  [[nodiscard]] const VcpuBinding& binding() const noexcept { return binding_; }

 private:
  struct Hooks;  // Unicorn's C callbacks (guest_cpu_hooks.cc)
  enum class Park : std::uint8_t { idle, in_hook };
  void fiber_main();
  // Suspends the guest with `exit`; returns when run() is called again. False: the
  // instruction must be abandoned (restart or teardown) and emulation stopped.
  bool post(VmExit exit, Park where = Park::in_hook);
  bool post_fault(VmExit exit);
  void unwind();
  // Applies what the VMM or PSP did while the guest was suspended: a TLB flush, and the
  // removal of code translated from bytes written through the memory controller (a VM
  // exit is serialising, so the next fetch must see them).
  // Returns whether translated code was dropped.
  bool apply_pending_flush();
  bool serve_miss(std::uint64_t gpa, npt::Access access);
  // A guest store to a foreign page, through the memory controller. False: refused (the
  // vCPU is dead).
  bool store_foreign(std::uint64_t gpa, unsigned size, std::uint64_t value);

  MemoryController& mc_;
  VcpuBinding binding_;
  CpuOptions options_;
  uc_struct* uc_ = nullptr;
  std::unique_ptr<cpu::WindowTlb> tlb_;
  std::unique_ptr<cpu::Fiber> fiber_;
  std::unique_ptr<cpu::Watchdog> watchdog_;
  std::uint64_t write_observer_ = 0;
  std::uint64_t tag_observer_ = 0;
  std::uint64_t tracker_id_ = 0;  // this vCPU in its VM's TLB tracker
  VmExit exit_;
  std::optional<VmExit> dead_;  // a guest_fault stays until the registers are reset
  Park park_ = Park::idle;
  bool abandon_ = false;  // resume only to unwind the trapped instruction
  bool terminating_ = false;
  bool flush_pending_ = false;
  // Stops happen only at block starts (the block hook), the one place where Unicorn's
  // RIP is exact: a stop requested from inside a memory or I/O hook, or from another
  // thread while a hook runs, resumes at the start of the *translation block* (measured),
  // which would run the block's earlier instructions twice.
  std::atomic<bool> host_expired_{false};      // set by the host safety net's thread
  std::uint64_t code_bytes_ = 0;               // executed translation-block bytes
  std::uint64_t code_bytes_end_ = UINT64_MAX;  // the budget: stop at a block start from here
  bool stop_at_block_ = false;                 // drop stale code before the next block
  bool stopped_at_block_ = false;              // the block hook stopped the emulator
  std::uint32_t in_value_ = 0xffffffff;
  std::uint64_t instruction_budget_end_ = 0;
  bool instruction_budget_hit_ = false;
  CpuStats stats_;
};

}  // namespace cvmsim::hw
