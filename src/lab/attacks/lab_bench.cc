#include "lab/attacks/lab_bench.h"

#include <fmt/format.h>

#include <algorithm>

#include "guest_images.h"
#include "hw/hw_error.h"
#include "hw/npt.h"

namespace cvmsim::lab::attacks {

namespace npt = hw::npt;

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::succeeded:
      return "succeeded";
    case OutcomeKind::detected:
      return "detected";
    case OutcomeKind::prevented:
      return "prevented";
  }
  return "?";
}

std::string_view to_string(Layer layer) {
  switch (layer) {
    case Layer::none:
      return "none";
    case Layer::psp_command:
      return "psp_command";
    case Layer::psp_periodic_check:
      return "psp_periodic_check";
    case Layer::memory_controller:
      return "memory_controller";
    case Layer::memory_encryption:
      return "memory_encryption";
    case Layer::signed_parameters:
      return "signed_parameters";
    case Layer::verifier:
      return "verifier";
    case Layer::guest:
      return "guest";
    case Layer::completion_record:
      return "completion_record";
  }
  return "?";
}

std::string_view error_module_name(AttackErrc) {
  return "attack";
}
std::string_view error_code_name(AttackErrc code) {
  switch (code) {
    case AttackErrc::unknown_scenario:
      return "unknown_scenario";
    case AttackErrc::inconclusive:
      return "inconclusive";
  }
  return "unknown";
}

Bytes guest_program(std::string_view name) {
  const auto& all = guest_images::all();
  const auto it = all.find(name);
  if (it == all.end()) {
    throw AttackError(AttackErrc::inconclusive,
                      fmt::format("guest program {} is not embedded (guest/CMakeLists.txt)", name));
  }
  return {it->second.begin(), it->second.end()};
}

measure::Policy policy_for(measure::GuardMode guard, bool memory_encryption) {
  measure::Policy p;
  p.guard = guard;
  p.memory_encryption = memory_encryption;
  return p;
}

measure::Policy policy_for(const RunOptions& options, measure::GuardMode guard) {
  measure::Policy p = policy_for(guard);
  p.memory_integrity = options.memory_integrity;
  p.ciphertext_hiding = options.ciphertext_hiding;
  return p;
}

std::string printable(ByteView bytes, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<char>(bytes[i]);
    out.push_back(c >= 0x20 && c <= 0x7e && c != '|' ? c : '.');
  }
  return out;
}

Bench::Bench(const RunOptions& options, std::size_t chips, std::size_t platform_chip,
             vmm::PlatformOptions platform)
    : options_(options), guard_(options.guard), world_(options.workdir, options.suite, chips) {
  platform.trace = options.trace;
  platform_ = std::make_unique<vmm::Platform>(world_.chip_dir(platform_chip), platform);
  vmm_ = std::make_unique<vmm::Vmm>(*platform_);
}

vmm::LaunchRequest Bench::victim_request(std::string_view commands,
                                         std::optional<measure::GuardMode> guard) const {
  vmm::LaunchRequest r = world_.launch_request(guest_program("attack_victim"),
                                               policy_for(options_, guard.value_or(guard_)));
  r.memory_size = kVictimMemory;
  r.host_input.assign(commands.begin(), commands.end());
  return r;
}

psp::VmHandle Bench::launch_victim(std::string_view commands,
                                   std::optional<measure::GuardMode> guard) {
  return vmm_->launch(victim_request(commands, guard));
}

std::uint64_t Bench::npt_root(psp::VmHandle vm) {
  const auto info = platform_->psp().vm_info(vm);
  if (!info) throw AttackError(AttackErrc::inconclusive, fmt::format("no VM {}", vm));
  return info->npt_root;
}

std::optional<std::uint64_t> Bench::leaf_entry(psp::VmHandle vm, std::uint64_t gpa) {
  return npt::Editor(platform_->memory_controller(), hw::kHostAccess)
      .leaf_entry_address(npt_root(vm), gpa, nullptr);
}

std::optional<std::uint64_t> Bench::frame_of(psp::VmHandle vm, std::uint64_t gpa) {
  const auto entry = leaf_entry(vm, gpa);
  if (!entry) return std::nullopt;
  const std::uint64_t e = read_entry(*entry);
  if ((e & npt::kPresent) == 0) return std::nullopt;
  return e & npt::kFrameMask;
}

std::uint64_t Bench::read_entry(std::uint64_t entry_hpa) {
  return npt::Editor(platform_->memory_controller(), hw::kHostAccess).read_entry(entry_hpa);
}

bool Bench::write_entry(std::uint64_t entry_hpa, std::uint64_t value) {
  try {
    npt::Editor(platform_->memory_controller(), hw::kHostAccess).write_entry(entry_hpa, value);
    return true;
  } catch (const hw::HwError&) {
    return false;  // the memory controller's write block (isolate-mode NPT frames)
  }
}

bool Bench::host_map(psp::VmHandle vm, std::uint64_t gpa, std::uint64_t hpa, std::uint64_t flags) {
  if (flags == 0) flags = npt::kPresent | npt::kWritable | npt::kExecutable;
  npt::Editor editor(platform_->memory_controller(), hw::kHostAccess);
  const npt::Editor::TableAllocator allocate = [this] {
    const std::uint64_t frame = platform_->frames().allocate(1)->hpa;
    platform_->memory_controller().write(frame, Bytes(hw::kFrameSize, 0), hw::kHostAccess);
    return frame;
  };
  try {
    editor.map(npt_root(vm), gpa, npt::make_entry(hpa, flags), allocate);
  } catch (const hw::HwError&) {
    return false;
  }
  vmm_->flush_tlb(vm);
  return true;
}

std::optional<std::uint64_t> Bench::frame_used_as(psp::VmHandle vm, hw::FrameUse use) {
  for (const std::uint64_t hpa : platform_->memory_controller().frames_of(vm)) {
    if (platform_->memory_controller().tag(hpa).use == use) return hpa;
  }
  return std::nullopt;
}

psp::Result Bench::psp_map(psp::VmHandle vm, std::uint64_t gpa, psp::MapPermissions perms) {
  const std::uint64_t hpa = platform_->frames().allocate(1)->hpa;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const psp::Response r = platform_->psp().execute(psp::NptMap{vm, gpa, hpa, 1, perms});
    if (r.result.status != psp::Status::resource_exhausted) return r.result;
    psp::NptDonate donate{vm, {}};
    for (std::uint64_t i = 0; i < r.result.detail + 8; ++i) {
      donate.frames.push_back(platform_->frames().allocate(1)->hpa);
    }
    (void)platform_->psp().execute(donate);
  }
  return psp::Result::failure(psp::Status::resource_exhausted);
}

void AtCommand::on_exit(vmm::Platform& platform, vmm::Vmm& vmm, psp::VmHandle vm,
                        const hw::VmExit& exit) {
  if (exit.kind != hw::VmExit::Kind::io_in || exit.port != hw::kHostDataPort) return;
  const std::size_t index = reads_++;
  for (auto& [command, action] : actions_) {
    if (command != index) continue;
    action(platform, vmm, vm);
    acted_at_us_ = vmm.simulated_us();
    acted_at_commands_ = platform.psp().commands_executed();
  }
}

std::optional<Detection> npt_detection(const vmm::RunResult& run, const AtCommand& attack,
                                       vmm::Platform& platform) {
  if (!attack.acted_at_us()) return std::nullopt;
  Detection d;
  d.after_us = run.stats.simulated_us - *attack.acted_at_us();
  d.after_commands = platform.psp().commands_executed() - attack.acted_at_commands();
  if (run.fate == vmm::VmFate::stopped_by_psp) {
    d.by = fmt::format("PSP periodic NPT check (every {} sim-us): VM stopped, {}",
                       vmm::kDefaultCheckIntervalUs, run.detail);
    d.layer = Layer::psp_periodic_check;
    d.status = psp::Status::vm_stopped;
    return d;
  }
  if (run.fate == vmm::VmFate::guest_fault &&
      run.detail.find("npt_tampered") != std::string::npos) {
    d.by = "PSP pre-update check of NPT_MAP: refused with npt_tampered";
    d.layer = Layer::psp_command;
    d.status = psp::Status::npt_tampered;
    return d;
  }
  return std::nullopt;
}

void record_detection(Outcome& outcome, const std::optional<Detection>& detection) {
  if (!detection) return;
  outcome.detected_after_us = detection->after_us;
  outcome.detected_after_commands = detection->after_commands;
  if (outcome.kind == OutcomeKind::succeeded) {
    outcome.note +=
        fmt::format("{}then detected by the {} {} sim-us after the edit",
                    outcome.note.empty() ? "" : "; ", detection->by, detection->after_us);
  } else {
    outcome.kind = OutcomeKind::detected;
    outcome.by = detection->by;
    outcome.layer = detection->layer;
    outcome.status = detection->status;
  }
}

}  // namespace cvmsim::lab::attacks
