#include "hw/guest_cpu.h"

#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "hw/cpu/fiber.h"
#include "hw/cpu/unicorn_check.h"
#include "hw/cpu/watchdog.h"
#include "hw/cpu/window_tlb.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {
namespace {

using cpu::check_uc;

constexpr std::array<int, 18> kRegisterIds = {
    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX,   UC_X86_REG_RDX, UC_X86_REG_RSI,
    UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP,   UC_X86_REG_R8,  UC_X86_REG_R9,
    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,   UC_X86_REG_R13, UC_X86_REG_R14,
    UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_EFLAGS};

std::array<std::uint64_t*, 18> fields(Registers& r) {
  return {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp, &r.rsp, &r.r8,
          &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip, &r.rflags};
}

}  // namespace

std::string_view to_string(VmExit::Kind kind) {
  switch (kind) {
    case VmExit::Kind::halt:
      return "halt";
    case VmExit::Kind::io_out:
      return "io_out";
    case VmExit::Kind::io_in:
      return "io_in";
    case VmExit::Kind::nested_page_fault:
      return "nested_page_fault";
    case VmExit::Kind::guest_fault:
      return "guest_fault";
    case VmExit::Kind::preempted:
      return "preempted";
    case VmExit::Kind::host_timeout:
      return "host_timeout";
    case VmExit::Kind::instruction_limit:
      return "instruction_limit";
  }
  return "?";
}

GuestCpu::~GuestCpu() {
  binding_.tlb_tracker()->detach(tracker_id_);
  mc_.remove_write_observer(write_observer_);
  mc_.remove_tag_observer(tag_observer_);
  if (fiber_ && fiber_->started() && !fiber_->finished()) {
    terminating_ = true;
    fiber_->resume();  // unwinds a trapped instruction out of Unicorn; the fiber returns
  }
  fiber_.reset();
  watchdog_.reset();
  tlb_.reset();
  if (uc_ != nullptr) uc_close(uc_);
}

void GuestCpu::fiber_main() {
  // Exits posted here (between emulations) park the fiber idle, not inside an instruction.
  const auto report = [this](VmExit exit) { return post(std::move(exit), Park::idle); };
  while (!terminating_) {
    apply_pending_flush();
    std::uint64_t rip = 0;
    uc_reg_read(uc_, UC_X86_REG_RIP, &rip);
    stopped_at_block_ = false;
    const uc_err err = uc_emu_start(uc_, rip, 0, 0, 0);
    if (terminating_) return;
    const bool host_expired = host_expired_.exchange(false);
    if (abandon_) {  // a trapped instruction was abandoned: wait for the new state
      abandon_ = false;
      park_ = Park::idle;
      fiber_->yield();
      continue;
    }
    if (dead_) {
      report(*dead_);
      continue;
    }
    if (instruction_budget_hit_) {
      instruction_budget_hit_ = false;
      report(VmExit::of(VmExit::Kind::instruction_limit, "instruction budget", this->rip()));
      continue;
    }
    if (err != UC_ERR_OK) {
      dead_ = VmExit::of(VmExit::Kind::guest_fault, uc_strerror(err), this->rip());
      report(*dead_);
      continue;
    }
    if (stopped_at_block_) {  // our own stop, before a block: a limit, or maintenance
      stop_at_block_ = false;
      if (host_expired) {
        report(VmExit::of(VmExit::Kind::host_timeout, "the host's wall-clock limit passed",
                          this->rip()));
      } else if (code_bytes_ >= code_bytes_end_) {
        report(VmExit::of(VmExit::Kind::preempted, "simulated-time budget spent", this->rip()));
      }
      continue;
    }
    if (host_expired) host_expired_ = true;  // still due: the next block stops
    report(VmExit::of(VmExit::Kind::halt, {}, this->rip()));
  }
}

bool GuestCpu::post(VmExit exit, Park where) {
  if (exit.rip == 0) exit.rip = rip();
  exit_ = std::move(exit);
  park_ = where;
  fiber_->yield();
  park_ = Park::idle;
  if (terminating_ || abandon_) return false;
  // A flush requested while the guest was suspended takes effect before the trapped
  // instruction goes on (as the VMM's flush precedes VMRUN on hardware). Dropped code
  // takes effect at the end of the current translation block: the emulator keeps running
  // the block it is in, so stop there and restart from the new bytes.
  if (apply_pending_flush() && where == Park::in_hook) stop_at_block_ = true;
  return true;
}

bool GuestCpu::post_fault(VmExit exit) {
  if (exit.rip == 0) exit.rip = rip();
  dead_ = exit;
  return post(std::move(exit));
}

bool GuestCpu::apply_pending_flush() {
  bool code_dropped = false;
  if (flush_pending_) {
    flush_pending_ = false;
    code_dropped = tlb_->clear();
  }
  return tlb_->apply_pending() || code_dropped;
}

// The miss path: the TLB walks, keys and maps once each; only a fault leaves it, to the
// VMM, and comes back to walk again.
bool GuestCpu::serve_miss(std::uint64_t gpa, npt::Access access) {
  for (;;) {
    apply_pending_flush();
    cpu::WindowTlb::Fill fill;
    try {
      fill = tlb_->fill(gpa, access);
    } catch (const std::exception& e) {  // nothing may unwind through Unicorn's C frames
      fill = {cpu::WindowTlb::Outcome::refused, {}, e.what()};
    }
    switch (fill.outcome) {
      case cpu::WindowTlb::Outcome::mapped:
        // Code is about to be translated from here (for the engine's first block, the one
        // the translation hook does not see).
        if (access == npt::Access::execute) tlb_->note_code(gpa, 1);
        return true;
      case cpu::WindowTlb::Outcome::refused:
        post_fault(VmExit::of(VmExit::Kind::guest_fault, fill.detail));
        return false;
      case cpu::WindowTlb::Outcome::fault: {
        ++stats_.nested_page_faults;
        VmExit e = VmExit::of(VmExit::Kind::nested_page_fault);
        e.fault = fill.fault;
        if (!post(std::move(e))) return false;
        break;  // the VMM has had its say: walk again
      }
    }
  }
}

bool GuestCpu::store_foreign(std::uint64_t gpa, unsigned size, std::uint64_t value) {
  // The fault is posted after the catch block: post_fault() suspends this fiber, which may
  // never resume (the vCPU is then destroyed), and a suspended handler would leak the
  // exception object.
  std::optional<std::string> refused;
  try {
    tlb_->store_foreign(gpa, size, value);
  } catch (const std::exception& e) {
    refused = e.what();
  }
  if (!refused) return true;
  post_fault(VmExit::of(VmExit::Kind::guest_fault, std::move(*refused)));
  return false;
}

VmExit GuestCpu::run(const RunLimits& limits) {
  if (dead_) return *dead_;
  instruction_budget_end_ = 0;
  if (limits.instructions) {
    if (!options_.count_instructions) {
      throw HwError(HwErrc::cpu, "an instruction budget needs CpuOptions::count_instructions");
    }
    instruction_budget_end_ = stats_.instructions + *limits.instructions;
  }
  code_bytes_end_ = limits.code_bytes ? code_bytes_ + *limits.code_bytes : UINT64_MAX;
  if (code_bytes_end_ < code_bytes_) code_bytes_end_ = UINT64_MAX;  // no wrap-around
  host_expired_ = false;
  // The VM's TLB epoch moved since this vCPU last flushed (TLB_TRACK): the entry flushes,
  // as the TDX module does on TD entry, so nothing cached before the epoch survives it.
  if (binding_.tlb_tracker()->behind(tracker_id_)) flush_tlb();
  // Others may have written the frames this vCPU sees through the memory controller.
  tlb_->refresh_foreign_views();
  if (limits.host_deadline) watchdog_->arm(*limits.host_deadline);
  fiber_->resume();
  if (limits.host_deadline) watchdog_->disarm();
  ++stats_.exits;
  return exit_;
}

void GuestCpu::unwind() {
  if (park_ != Park::in_hook) return;
  abandon_ = true;
  fiber_->resume();  // the hook gives up, uc_emu_start returns, the fiber parks idle
  abandon_ = false;
}

void GuestCpu::set_entry(std::uint64_t rip, std::uint64_t rsp, std::uint64_t rflags) {
  Registers regs = registers();
  regs.rip = rip;
  regs.rsp = rsp;
  regs.rflags = rflags;
  set_registers(regs);
}

Registers GuestCpu::registers() const {
  Registers regs;
  const auto out = fields(regs);
  for (std::size_t i = 0; i < kRegisterIds.size(); ++i) {
    check_uc(uc_reg_read(uc_, kRegisterIds[i], out[i]), "read register");
  }
  return regs;
}

void GuestCpu::set_registers(const Registers& regs) {
  unwind();
  dead_.reset();
  Registers copy = regs;
  const auto in = fields(copy);
  for (std::size_t i = 0; i < kRegisterIds.size(); ++i) {
    check_uc(uc_reg_write(uc_, kRegisterIds[i], in[i]), "write register");
  }
}

std::uint64_t GuestCpu::rip() const {
  std::uint64_t value = 0;
  uc_reg_read(uc_, UC_X86_REG_RIP, &value);
  return value;
}

void GuestCpu::flush_tlb() {
  ++stats_.tlb_flushes;
  // Recorded at once: a flush pending inside a trapped instruction is applied before the
  // guest makes another access, so no translation from before it can be used again.
  binding_.tlb_tracker()->flushed(tracker_id_);
  // Inside a trapped instruction the regions are dropped when the guest resumes (Unicorn
  // must not lose regions under its feet while suspended in a hook).
  if (park_ == Park::in_hook) {
    flush_pending_ = true;
  } else {
    (void)tlb_->clear();  // between runs: the next block is looked up afresh anyway
  }
}

CpuStats GuestCpu::stats() const {
  CpuStats s = stats_;
  s.code_bytes = code_bytes_;
  const cpu::TlbStats& t = tlb_->stats();
  s.tlb_fills = t.fills;
  s.blocks_aliased = t.blocks_aliased;
  s.pages_aliased = t.pages_aliased;
  s.foreign_pages_mapped = t.foreign_pages;
  s.code_drops = t.code_drops;
  s.tlb_revocations = t.revocations;
  return s;
}

}  // namespace cvmsim::hw
