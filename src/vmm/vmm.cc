#include "vmm/vmm.h"

#include <fmt/format.h>

#include "hw/npt.h"
#include "measure/launch_plan.h"
#include "vmm/vmm_error.h"

namespace cvmsim::vmm {
namespace {

namespace npt = hw::npt;

// NPT_MAP asks for this many pages around a fault: the range the mission describes.
constexpr std::uint64_t kMapChunkPages = 16;
constexpr std::size_t kInitialTableFrames = 8;

}  // namespace

std::string_view error_code_name(VmmErrc code) {
  switch (code) {
    case VmmErrc::launch_refused: return "launch_refused";
    case VmmErrc::out_of_frames: return "out_of_frames";
    case VmmErrc::bad_request: return "bad_request";
  }
  return "unknown";
}

std::string_view to_string(VmFate fate) {
  switch (fate) {
    case VmFate::exited: return "exited";
    case VmFate::halted: return "halted";
    case VmFate::guest_fault: return "guest fault";
    case VmFate::stopped_by_psp: return "stopped by the PSP";
    case VmFate::time_limit: return "time limit";
  }
  return "?";
}

struct Vmm::GuestVm {
  psp::VmHandle handle = 0;
  measure::Policy policy;
  std::uint64_t memory_size = 0;
  std::unique_ptr<hw::GuestCpu> cpu;
  VmStats stats;
};

Vmm::Vmm(Platform& platform) : platform_(platform) {}
Vmm::~Vmm() = default;

std::uint64_t Vmm::take_frames(std::uint64_t count) {
  const auto run = platform_.frames().allocate(count);
  if (!run) {
    throw VmmError(VmmErrc::out_of_frames,
                   fmt::format("host memory has no {} contiguous free frames", count));
  }
  return run->hpa;
}

psp::Response Vmm::call(GuestVm& vm, const psp::Command& command) {
  ++vm.stats.psp_commands;
  return platform_.psp().execute(command);
}

void Vmm::expect(GuestVm& vm, const psp::Command& command) {
  const psp::Response r = call(vm, command);
  if (!r.ok()) {
    throw VmmError(VmmErrc::launch_refused,
                   fmt::format("PSP refused {}: {} (detail {:#x})", psp::command_name(command),
                               psp::to_string(r.result.status), r.result.detail));
  }
}

void Vmm::donate_tables(GuestVm& vm, std::size_t frames) {
  psp::NptDonate donate{vm.handle, {}};
  for (std::size_t i = 0; i < frames; ++i) donate.frames.push_back(take_frames(1));
  expect(vm, donate);
}

psp::VmHandle Vmm::launch(const LaunchRequest& request) {
  auto vm = std::make_unique<GuestVm>();
  vm->policy = request.policy;
  vm->memory_size = request.memory_size;
  const std::uint64_t root = take_frames(1);
  const psp::Response started =
      platform_.psp().execute(psp::LaunchStart{request.policy.encode(), root});
  ++vm->stats.psp_commands;
  if (!started.ok()) {
    throw VmmError(VmmErrc::launch_refused,
                   fmt::format("PSP refused LAUNCH_START: {}",
                               psp::to_string(started.result.status)));
  }
  vm->handle = std::get<psp::LaunchStartInfo>(started.payload).vm;
  donate_tables(*vm, kInitialTableFrames);
  const measure::LaunchPlan plan =
      measure::plan_firmware_launch(request.firmware, measure::GuestLayout{}, "firmware");
  for (const auto& page : plan.pages) {
    const std::uint64_t hpa = page.type == measure::PageType::vcpu_state ? 0 : take_frames(1);
    expect(*vm, psp::LaunchUpdate{vm->handle, page.gpa, page.type, hpa, page.contents});
  }
  expect(*vm, psp::LaunchVerify{vm->handle, request.reference, request.provider_key});
  expect(*vm, psp::LaunchFinish{vm->handle});
  const auto info = platform_.psp().vm_info(vm->handle);
  vm->cpu = std::make_unique<hw::GuestCpu>(platform_.memory_controller(),
                                           *platform_.psp().vcpu_binding(vm->handle));
  vm->cpu->set_entry(info->vcpu.rip, info->vcpu.rsp, info->vcpu.rflags);
  const psp::VmHandle handle = vm->handle;
  vms_.emplace(handle, std::move(vm));
  return handle;
}

bool Vmm::map_unguarded(GuestVm& vm, std::uint64_t gpa) {
  // Guard off: the SEV-class baseline. The VMM writes its own tables; the PSP is not asked.
  const auto info = platform_.psp().vm_info(vm.handle);
  npt::Editor editor(platform_.memory_controller(), hw::kHostAccess);
  const npt::Editor::TableAllocator allocate = [this] {
    const std::uint64_t frame = take_frames(1);
    platform_.memory_controller().write(frame, Bytes(hw::kFrameSize, 0), hw::kHostAccess);
    return frame;
  };
  const auto entry = editor.leaf_entry_address(info->npt_root, gpa, &allocate);
  editor.write_entry(*entry, npt::make_entry(take_frames(1), npt::kPresent | npt::kWritable |
                                                                 npt::kExecutable));
  ++vm.stats.pages_mapped;
  return true;
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
  // Ask for an aligned range around the fault; fall back to the single page when part of
  // the range is mapped already.
  std::uint64_t base = gpa & ~(kMapChunkPages * hw::kFrameSize - 1);
  std::uint64_t pages = std::min(kMapChunkPages, (vm.memory_size - base) / hw::kFrameSize);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::uint64_t hpa = take_frames(pages);
    const psp::Response r = call(vm, psp::NptMap{vm.handle, base, hpa, pages, {}});
    if (r.ok()) {
      vm.stats.pages_mapped += pages;
      return true;
    }
    platform_.frames().free({hpa, pages});
    if (r.result.status == psp::Status::resource_exhausted) {
      donate_tables(vm, static_cast<std::size_t>(r.result.detail) + kInitialTableFrames);
    } else if (r.result.status == psp::Status::already_mapped && pages > 1) {
      base = gpa;
      pages = 1;
    } else {
      why = fmt::format("PSP refused NPT_MAP of GPA {:#x}: {} (detail {:#x})", base,
                        psp::to_string(r.result.status), r.result.detail);
      return false;
    }
  }
  why = "NPT_MAP kept failing";
  return false;
}

RunResult Vmm::run(psp::VmHandle handle, std::chrono::milliseconds limit) {
  const auto it = vms_.find(handle);
  if (it == vms_.end()) {
    throw VmmError(VmmErrc::bad_request, fmt::format("no VM with handle {}", handle));
  }
  GuestVm& vm = *it->second;
  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const hw::VmExit exit = vm.cpu->run(std::max(left, std::chrono::milliseconds(1)));
    ++vm.stats.exits;
    if (check_interval_ != 0 && vm.stats.exits % check_interval_ == 0) {
      platform_.psp().periodic_check();
    }
    const auto info = platform_.psp().vm_info(handle);
    if (info && info->state == psp::VmState::stopped) {
      result.fate = VmFate::stopped_by_psp;
      result.detail = fmt::format("stopped: {}", psp::to_string(info->stop_reason));
      break;
    }
    if (exit.kind == hw::VmExit::Kind::io_out) {
      if (exit.port == hw::kConsolePort) {
        result.console.push_back(static_cast<char>(exit.value & 0xff));
      } else if (exit.port == hw::kExitPort) {
        result.exit_status = exit.value;
      } else if (exit.port == hw::kSecureCallPort) {
        ++vm.stats.secure_calls;  // served by the image-certificate and disk issue
      }
      continue;
    }
    if (exit.kind == hw::VmExit::Kind::io_in) {
      vm.cpu->complete_io_in(0xffffffff);  // no device behind any port: a floating bus
      continue;
    }
    if (exit.kind == hw::VmExit::Kind::nested_page_fault) {
      ++vm.stats.nested_page_faults;
      std::string why;
      if (handle_npf(vm, exit.fault, why)) continue;
      result.fate = VmFate::guest_fault;
      result.detail = why;
      break;
    }
    if (exit.kind == hw::VmExit::Kind::halt) {
      result.fate = result.exit_status ? VmFate::exited : VmFate::halted;
      break;
    }
    if (exit.kind == hw::VmExit::Kind::time_limit &&
        std::chrono::steady_clock::now() < deadline) {
      continue;  // a preemption slice ended early: keep going until the run's limit
    }
    result.fate = exit.kind == hw::VmExit::Kind::time_limit ? VmFate::time_limit
                                                            : VmFate::guest_fault;
    result.detail = exit.detail;
    break;
  }
  result.stats = vm.stats;
  return result;
}

void Vmm::decommission(psp::VmHandle handle) {
  const auto it = vms_.find(handle);
  if (it == vms_.end()) return;
  it->second->cpu.reset();
  platform_.psp().execute(psp::Decommission{handle});
  vms_.erase(it);
}

}  // namespace cvmsim::vmm
