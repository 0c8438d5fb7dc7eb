#include "vmm/vmm.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "hw/npt.h"
#include "measure/launch_plan.h"
#include "psp/status_detail.h"
#include "vmm/vmm_error.h"

namespace cvmsim::vmm {
namespace {

namespace npt = hw::npt;

// NPT_MAP asks for this many pages around a fault: the range the mission describes.
// Frames donated at launch: the firmware's 4 table pages plus the frames of their Merkle
// tree (one node store frame list per tree level: 11 for 4 pages with SM3, 14 with SHA-384).
constexpr std::size_t kInitialTableFrames = 32;
// The span of one leaf table: the unit of the VMM's huge-page backing.
constexpr std::uint64_t kBackingBlock = npt::kEntriesPerTable * hw::kFrameSize;

// Clock arithmetic that saturates: a bound of "forever" must not wrap around.
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

std::string describe_sim_time(std::uint64_t ns) {
  if (ns % 1'000'000'000 == 0) return fmt::format("{} s", ns / 1'000'000'000);
  if (ns % 1'000'000 == 0) return fmt::format("{} ms", ns / 1'000'000);
  return fmt::format("{} us", ns / 1'000);
}

}  // namespace

std::string_view error_code_name(VmmErrc code) {
  switch (code) {
    case VmmErrc::launch_refused:
      return "launch_refused";
    case VmmErrc::out_of_frames:
      return "out_of_frames";
    case VmmErrc::bad_request:
      return "bad_request";
  }
  return "unknown";
}

std::string_view to_string(VmFate fate) {
  switch (fate) {
    case VmFate::exited:
      return "exited";
    case VmFate::halted:
      return "halted";
    case VmFate::guest_fault:
      return "guest fault";
    case VmFate::stopped_by_psp:
      return "stopped by the PSP";
    case VmFate::time_limit:
      return "time limit";
    case VmFate::host_timeout:
      return "host timeout";
  }
  return "?";
}

struct Vmm::GuestVm {
  psp::VmHandle handle = 0;
  measure::Policy policy;
  std::uint64_t memory_size = 0;
  std::unique_ptr<hw::GuestCpu> cpu;
  bool counts_instructions = false;
  VmStats stats;
  std::optional<std::uint32_t> disk_port;
  std::deque<std::uint8_t> pending_interrupts;
  std::uint64_t code_bytes_charged = 0;  // executed code already on the clock
  Bytes host_input;
  std::size_t host_input_read = 0;
  Bytes host_output;
  // Guest memory is backed 2 MiB at a time, as with huge pages: each 2 MiB block of GPAs
  // the guest touches gets an aligned 2 MiB host run, and a page at offset o of the block
  // takes the run's frame at offset o. The guest CPU then reaches a whole block through
  // one Unicorn region (docs/architecture.md, "Windows: faults without a region operation").
  std::map<std::uint64_t, std::uint64_t> backing;  // GPA block number -> host run
};

Vmm::Vmm(Platform& platform) : platform_(platform), psp_(platform.psp()) {
  set_check_interval(kDefaultCheckIntervalUs);
}

Vmm::~Vmm() = default;

void Vmm::deliver_disk_interrupts() {
  for (const hw::DiskInterrupt& raised : platform_.disks().take_interrupts()) {
    for (auto& [handle, vm] : vms_) {
      if (vm->disk_port != raised.port) continue;
      const unsigned copies =
          misbehaviour_ ? misbehaviour_->on_disk_interrupt(platform_, *this, handle, raised) : 1;
      vm->pending_interrupts.insert(vm->pending_interrupts.end(), copies, hw::kDiskInterruptVector);
    }
  }
}

void Vmm::inject_interrupt(psp::VmHandle handle, std::uint8_t vector) {
  const auto it = vms_.find(handle);
  if (it != vms_.end()) it->second->pending_interrupts.push_back(vector);
}

std::optional<std::uint32_t> Vmm::disk_port(psp::VmHandle vm) const {
  const auto it = vms_.find(vm);
  return it == vms_.end() ? std::nullopt : it->second->disk_port;
}

void Vmm::flush_tlb(psp::VmHandle vm) {
  const auto it = vms_.find(vm);
  if (it != vms_.end() && it->second->cpu) it->second->cpu->flush_tlb();
}

psp::Result Vmm::unmap(psp::VmHandle handle, std::uint64_t gpa, std::uint64_t pages) {
  const auto it = vms_.find(handle);
  if (it == vms_.end()) return psp::Result::failure(psp::Status::invalid_vm, handle);
  GuestVm& vm = *it->second;
  if (const psp::Response r = call(vm, psp::NptUnmap{handle, gpa, pages}); !r.ok()) {
    return r.result;
  }
  const psp::Response tracked = call(vm, psp::TlbTrack{handle});
  if (vm.cpu) vm.cpu->flush_tlb();  // recorded by the vCPU in the VM's TLB tracker
  return tracked.result;
}

std::optional<hw::Registers> Vmm::registers(psp::VmHandle vm) const {
  const auto it = vms_.find(vm);
  if (it == vms_.end() || !it->second->cpu) return std::nullopt;
  return it->second->cpu->registers();
}

std::uint64_t Vmm::take_frames(std::uint64_t count) {
  const auto run = platform_.frames().allocate(count);
  if (!run) {
    throw VmmError(VmmErrc::out_of_frames,
                   fmt::format("host memory has no {} contiguous free frames", count));
  }
  return run->hpa;
}

Vmm::Backing Vmm::back(GuestVm& vm, std::uint64_t gpa, std::uint64_t pages) {
  const std::uint64_t block = gpa / kBackingBlock;
  const bool one_block = (gpa + pages * hw::kFrameSize - 1) / kBackingBlock == block;
  if (one_block) {
    auto it = vm.backing.find(block);
    if (it == vm.backing.end()) {
      if (const auto run =
              platform_.frames().allocate_aligned(npt::kEntriesPerTable, kBackingBlock)) {
        it = vm.backing.emplace(block, run->hpa).first;
      }
    }
    if (it != vm.backing.end()) return {it->second + gpa % kBackingBlock, true};
  }
  // No aligned run left (or a range across blocks): any free frames will do.
  return {take_frames(pages), false};
}

psp::Response Vmm::call(GuestVm& vm, const psp::Command& command) {
  ++vm.stats.psp_commands;
  return psp_.execute(command);
}

void Vmm::expect(GuestVm& vm, const psp::Command& command) {
  const psp::Response r = call(vm, command);
  if (!r.ok()) {
    const std::string_view name = psp::command_name(command);
    throw VmmError(VmmErrc::launch_refused,
                   fmt::format("PSP refused {}: {}", name,
                               psp::describe_refusal(name, r.result.status, r.result.detail)));
  }
}

std::vector<std::uint64_t> Vmm::take_donation_frames(std::size_t frames) {
  std::vector<std::uint64_t> taken;
  taken.reserve(frames);
  while (taken.size() < frames) {
    if (donation_run_.frames == 0) {
      const std::uint64_t wanted =
          std::max<std::uint64_t>(frames - taken.size(), npt::kEntriesPerTable);
      const auto run = platform_.frames().allocate_aligned(wanted, kBackingBlock);
      if (!run) {  // no aligned run left: single frames, wherever they are
        while (taken.size() < frames) taken.push_back(take_frames(1));
        return taken;
      }
      donation_run_ = *run;
    }
    const std::uint64_t count =
        std::min<std::uint64_t>(frames - taken.size(), donation_run_.frames);
    // Resident at once, as a hypervisor backs the memory it gives the PSP: the PSP writes
    // these frames as tables and Merkle nodes, and a page fault apiece costs more than the
    // writes (one MADV_POPULATE_WRITE for the run instead; docs/benchmarks.md).
    platform_.memory().populate(donation_run_.hpa, count * hw::kFrameSize);
    for (std::uint64_t i = 0; i < count; ++i)
      taken.push_back(donation_run_.hpa + i * hw::kFrameSize);
    donation_run_.hpa += count * hw::kFrameSize;
    donation_run_.frames -= count;
  }
  return taken;
}

void Vmm::donate_tables(GuestVm& vm, std::size_t frames) {
  expect(vm, psp::NptDonate{vm.handle, take_donation_frames(frames)});
}

psp::VmHandle Vmm::launch(const LaunchRequest& request) {
  auto vm = std::make_unique<GuestVm>();
  vm->policy = request.policy;
  vm->memory_size = request.memory_size;
  const std::uint64_t root = take_frames(1);
  const psp::Response started = psp_.execute(psp::LaunchStart{request.policy.encode(), root});
  ++vm->stats.psp_commands;
  if (!started.ok()) {
    throw VmmError(VmmErrc::launch_refused,
                   fmt::format("PSP refused LAUNCH_START: {}",
                               psp::describe_refusal("LAUNCH_START", started.result.status,
                                                     started.result.detail)));
  }
  vm->handle = std::get<psp::LaunchStartInfo>(started.payload).vm;
  donate_tables(*vm, kInitialTableFrames);
  const measure::LaunchPlan plan =
      measure::plan_firmware_launch(request.firmware, measure::GuestLayout{}, "firmware");
  for (const auto& page : plan.pages) {
    const std::uint64_t hpa =
        page.type == measure::PageType::vcpu_state ? 0 : back(*vm, page.gpa, 1).hpa;
    expect(*vm, psp::LaunchUpdate{vm->handle, page.gpa, page.type, hpa, page.contents});
  }
  expect(*vm, psp::LaunchVerify{vm->handle, request.reference, request.provider_key});
  expect(*vm, psp::LaunchFinish{vm->handle});
  const auto info = psp_.vm_info(vm->handle);
  vm->cpu = std::make_unique<hw::GuestCpu>(platform_.memory_controller(),
                                           *psp_.vcpu_binding(vm->handle), cpu_options_);
  vm->counts_instructions = cpu_options_.count_instructions;
  vm->cpu->set_entry(info->vcpu.rip, info->vcpu.rsp, info->vcpu.rflags);
  vm->host_input = request.host_input;
  if (request.disk) {
    vm->disk_port = platform_.disks().attach(*request.disk, request.disk_writable);
    expect(*vm, psp::DiskAttach{vm->handle, *vm->disk_port});
  }
  const psp::VmHandle handle = vm->handle;
  vms_.emplace(handle, std::move(vm));
  return handle;
}

bool Vmm::map_unguarded(GuestVm& vm, std::uint64_t gpa) {
  // Guard off: the SEV-class baseline. The VMM writes its own tables; the PSP is not asked.
  const auto info = psp_.vm_info(vm.handle);
  npt::Editor editor(platform_.memory_controller(), hw::kHostAccess);
  const npt::Editor::TableAllocator allocate = [this] {
    const std::uint64_t frame = take_frames(1);
    platform_.memory_controller().write(frame, Bytes(hw::kFrameSize, 0), hw::kHostAccess);
    return frame;
  };
  editor.map(
      info->npt_root, gpa,
      npt::make_entry(back(vm, gpa, 1).hpa, npt::kPresent | npt::kWritable | npt::kExecutable),
      allocate);
  ++vm.stats.pages_mapped;
  return true;
}

void Vmm::set_fault_around(std::uint64_t pages) {
  if (pages == 0 || pages > npt::kEntriesPerTable || (pages & (pages - 1)) != 0) {
    throw VmmError(VmmErrc::bad_request,
                   fmt::format("fault-around of {} pages: must be a power of two from 1 to {}",
                               pages, npt::kEntriesPerTable));
  }
  fault_around_ = pages;
}

bool Vmm::handle_npf(GuestVm& vm, const npt::Fault& fault, std::string& why) {
  if (fault.kind != npt::FaultKind::not_present) {
    why = fmt::format("nested page fault ({} of GPA {:#x}) that mapping cannot fix",
                      npt::to_string(fault.access), fault.gpa);
    return false;
  }
  const std::uint64_t gpa = fault.gpa & ~std::uint64_t{0xfff};
  if (gpa >= vm.memory_size) {
    why = fmt::format("GPA {:#x} is beyond the VM's {} MiB of memory", fault.gpa,
                      vm.memory_size >> 20);
    return false;
  }
  if (vm.policy.guard == measure::GuardMode::off) return map_unguarded(vm, gpa);
  // Ask for an aligned range around the fault; halve it around the faulting page while
  // part of it is mapped already.
  std::uint64_t span = fault_around_;  // a power of two
  std::uint64_t base = gpa & ~(span * hw::kFrameSize - 1);
  std::uint64_t pages = std::min(span, (vm.memory_size - base) / hw::kFrameSize);
  // Enough for halving 512 pages down to one and a few table donations.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const Backing backing = back(vm, base, pages);
    const std::uint64_t hpa = backing.hpa;
    // Read-write-execute, as KVM maps guest memory: the NPT grants what the guest may
    // need (code it loads from its disk included); the guest's own paging restricts.
    const psp::MapPermissions rwx{true, true, false};
    psp::NptMap map{vm.handle, base, hpa, pages, rwx};
    if (misbehaviour_) misbehaviour_->on_npt_map(platform_, *this, map);
    const psp::Response r = call(vm, map);
    if (r.ok()) {
      vm.stats.pages_mapped += pages;
      return true;
    }
    if (!backing.reserved) platform_.frames().free({hpa, pages});
    // With congruent backing a frame of the block's own run is taken exactly when its
    // page is mapped (the firmware's pages at 1 MiB, say), and the PSP checks frames
    // before mappings: for a range that covers such a page it answers frame_not_available
    // where already_mapped is meant. A range of a whole block (512 pages) always covers
    // the pages mapped before in that block.
    const bool own_frame = backing.reserved &&
                           r.result.status == psp::Status::frame_not_available &&
                           r.result.detail >= hpa && r.result.detail < hpa + pages * hw::kFrameSize;
    if (r.result.status == psp::Status::resource_exhausted) {
      donate_tables(vm, static_cast<std::size_t>(r.result.detail) + kInitialTableFrames);
    } else if ((r.result.status == psp::Status::already_mapped || own_frame) && pages > 1) {
      span = std::max<std::uint64_t>(1, std::min(span, pages) / 2);
      base = gpa & ~(span * hw::kFrameSize - 1);
      pages = std::min(span, (vm.memory_size - base) / hw::kFrameSize);
    } else {
      why = fmt::format("PSP refused NPT_MAP of GPA {:#x}: {}", base,
                        psp::describe_refusal("NPT_MAP", r.result.status, r.result.detail));
      return false;
    }
  }
  why = "NPT_MAP kept failing";
  return false;
}

hw::VmExit Vmm::enter(GuestVm& vm, std::uint64_t end_ns, const RunLimits& limits) {
  SimClock& clock = platform_.clock();
  // The entry ends at the slice, the run's bound or the PSP timer's next tick, whichever
  // comes first: the timer's interrupt would end it there on hardware.
  std::uint64_t until = std::min(end_ns, saturating_add(clock.now_ns(), kSliceSimNs));
  if (const auto tick = psp_.next_check_us()) {
    until = std::min(until, std::max(clock.now_ns(), *tick * 1000));
  }
  // At least one byte, so that every entry makes progress (the first block always runs).
  const std::uint64_t budget =
      std::max<std::uint64_t>(1, (until - std::min(until, clock.now_ns())) * kCodeBytesPerSimNs);
  hw::VmExit exit = vm.cpu->run({.code_bytes = budget, .host_deadline = limits.host_deadline});
  // Executed code, then the exit's fixed cost. Whole nanoseconds go on the clock and the
  // remainder waits for the next entry, so the clock is the same however entries split.
  const std::uint64_t ns = (vm.cpu->code_bytes() - vm.code_bytes_charged) / kCodeBytesPerSimNs;
  vm.code_bytes_charged += ns * kCodeBytesPerSimNs;
  clock.advance_ns(ns + exit_cost_ns(exit.kind));
  ++vm.stats.exits;
  if (exit.kind == hw::VmExit::Kind::preempted) ++vm.stats.preemptions;
  psp_.advance_clock(clock.now_us());  // the PSP timer sees the same clock
  return exit;
}

RunResult Vmm::run(psp::VmHandle handle, const RunLimits& limits) {
  const auto it = vms_.find(handle);
  if (it == vms_.end()) {
    throw VmmError(VmmErrc::bad_request, fmt::format("no VM with handle {}", handle));
  }
  GuestVm& vm = *it->second;
  RunResult result;
  const std::uint64_t end_ns = saturating_add(platform_.clock().now_ns(), limits.max_sim_ns);
  for (;;) {
    // Checked on every exit, so a guest that exits often is bounded too.
    if (limits.host_deadline && std::chrono::steady_clock::now() >= *limits.host_deadline) {
      result.fate = VmFate::host_timeout;
      result.detail = "the host's wall-clock limit (--timeout) passed";
      break;
    }
    if (platform_.clock().now_ns() >= end_ns) {
      result.fate = VmFate::time_limit;
      result.detail =
          fmt::format("simulated-time limit of {} reached", describe_sim_time(limits.max_sim_ns));
      break;
    }
    deliver_disk_interrupts();  // raised during the last exit's PSP commands
    const hw::VmExit exit = enter(vm, end_ns, limits);
    const auto info = psp_.vm_info(handle);
    if (info && info->state == psp::VmState::stopped) {
      result.fate = VmFate::stopped_by_psp;
      result.detail = fmt::format("stopped: {}", psp::to_string(info->stop_reason));
      break;
    }
    if (misbehaviour_) misbehaviour_->on_exit(platform_, *this, handle, exit);
    if (exit.kind == hw::VmExit::Kind::io_out) {
      handle_io_out(vm, exit, result);
      continue;
    }
    if (exit.kind == hw::VmExit::Kind::io_in) {
      vm.cpu->complete_io_in(handle_io_in(vm, exit));
      continue;
    }
    if (exit.kind == hw::VmExit::Kind::nested_page_fault) {
      ++vm.stats.nested_page_faults;
      trace(vm, trace::Actor::guest, trace::Actor::vmm, "nested_page_fault", trace::category::npt,
            {{"gpa", exit.fault.gpa},
             {"access", npt::to_string(exit.fault.access)},
             {"kind", npt::to_string(exit.fault.kind)}});
      std::string why;
      if (handle_npf(vm, exit.fault, why)) continue;
      result.fate = VmFate::guest_fault;
      result.detail = why;
      break;
    }
    if (exit.kind == hw::VmExit::Kind::halt) {
      // HLT waits for an interrupt: resume a vCPU that has one pending (it reads the
      // vector from the interrupt port).
      deliver_disk_interrupts();
      if (!result.exit_status && !vm.pending_interrupts.empty()) continue;
      result.fate = result.exit_status ? VmFate::exited : VmFate::halted;
      break;
    }
    if (exit.kind == hw::VmExit::Kind::preempted || exit.kind == hw::VmExit::Kind::host_timeout) {
      continue;  // the loop's checks above decide whether the run goes on
    }
    result.fate = VmFate::guest_fault;
    result.detail = exit.detail;
    break;
  }
  vm.stats.simulated_us = platform_.clock().now_us();
  vm.stats.code_bytes = vm.cpu->code_bytes();
  if (vm.counts_instructions) vm.stats.instructions = vm.cpu->stats().instructions;
  trace(vm, trace::Actor::vmm, std::nullopt, "run_end", trace::category::vm,
        {{"fate", to_string(result.fate)},
         {"exit_status", result.exit_status ? nlohmann::json(*result.exit_status) : nullptr},
         {"exits", vm.stats.exits}});
  result.stats = vm.stats;
  result.host_output = vm.host_output;
  return result;
}

void Vmm::trace(const GuestVm& vm, trace::Actor actor, std::optional<trace::Actor> target,
                std::string name, const char* category, nlohmann::json args) {
  trace::Recorder* recorder = platform_.trace();
  if (recorder == nullptr) return;
  recorder->record({.actor = actor,
                    .target = target,
                    .name = std::move(name),
                    .category = category,
                    .vm = vm.handle,
                    .asid = vm.cpu ? vm.cpu->asid() : 0,
                    .args = std::move(args)});
}

void Vmm::handle_io_out(GuestVm& vm, const hw::VmExit& exit, RunResult& result) {
  switch (exit.port) {
    case hw::kConsolePort:
      if (result.console.size() < kMaxConsoleBytes) {
        result.console.push_back(static_cast<char>(exit.value & 0xff));
      } else {
        ++result.console_dropped;
      }
      break;
    case hw::kExitPort:
      result.exit_status = exit.value;
      trace(vm, trace::Actor::guest, trace::Actor::vmm, "exit_port", trace::category::vm,
            {{"status", exit.value}});
      break;
    case hw::kHostDataPort:
      vm.host_output.push_back(static_cast<std::uint8_t>(exit.value & 0xff));
      break;
    case hw::kSecureCallPort: {
      // The VMM sees the GPA only; the request and response are in encrypted memory.
      ++vm.stats.secure_calls;
      trace(vm, trace::Actor::guest, trace::Actor::vmm, "secure_call", trace::category::secure_call,
            {{"gpa", exit.value}});
      const std::vector<std::uint64_t> forwarded =
          misbehaviour_ ? misbehaviour_->on_secure_call(platform_, *this, vm.handle, exit.value)
                        : std::vector<std::uint64_t>{exit.value};
      for (const std::uint64_t gpa : forwarded) {
        if (!call(vm, psp::SecureCall{vm.handle, gpa}).ok()) ++vm.stats.secure_calls_refused;
      }
      break;
    }
    default:
      break;  // no device behind the port
  }
}

std::uint32_t Vmm::handle_io_in(GuestVm& vm, const hw::VmExit& exit) {
  if (exit.port == hw::kInterruptPort) {
    if (vm.pending_interrupts.empty()) return 0;
    const std::uint8_t vector = vm.pending_interrupts.front();
    vm.pending_interrupts.pop_front();
    ++vm.stats.interrupts_injected;
    trace(vm, trace::Actor::vmm, trace::Actor::guest, "interrupt_inject",
          trace::category::interrupt, {{"vector", vector}});
    return vector;
  }
  if (exit.port == hw::kHostDataPort && vm.host_input_read < vm.host_input.size()) {
    return vm.host_input[vm.host_input_read++];
  }
  return 0xffffffff;  // no device behind the port: a floating bus
}

void Vmm::decommission(psp::VmHandle handle) {
  const auto it = vms_.find(handle);
  if (it == vms_.end()) return;
  it->second->cpu.reset();
  psp_.execute(psp::Decommission{handle});
  if (it->second->disk_port) platform_.disks().detach(*it->second->disk_port);
  vms_.erase(it);
}

}  // namespace cvmsim::vmm
