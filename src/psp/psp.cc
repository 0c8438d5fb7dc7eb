// PSP core: dispatch, platform status, frame bookkeeping, stop and decommission.
#include "psp/psp.h"

#include "common/error.h"
#include "crypto/suite.h"
#include "hw/npt.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {

Psp::Psp(hw::MemoryController& mc, hw::DiskController& disks, ChipFuses fuses, PspConfig config)
    : mc_(mc),
      disks_(disks),
      fuses_(std::move(fuses)),
      nv_(fuses_.nv_dir, fuses_.identity.suite, derive_nv_seal_key(fuses_.wrapping_key)),
      suite_(fuses_.identity.suite),
      config_(config),
      memory_(config.private_memory_budget),
      asid_in_use_(config.max_asids + 1, false) {
  asid_in_use_[0] = true;  // slot 0 means "no key"
  if (config_.dram_alias_check) {
    boot_result_ = probe_dram_aliases();
    if (boot_result_.ok()) dram_alias_check_ = attest::DramAliasCheck::passed;
  }
}

Psp::~Psp() = default;

Response Psp::execute(const Command& command) {
  ++commands_;
  const std::optional<std::uint64_t> traced = trace_command(command);
  // The dispatch boundary: every command's input comes from the host, and firmware must
  // answer it with a status, never stop. A handler validates before it acts, so an
  // exception here means a check is missing; it becomes internal_error (detail: the
  // command's index) for the VMM instead of ending the platform.
  Response response;
  if (!boot_result_.ok()) {  // a platform that failed its boot checks never starts
    response = {boot_result_, {}};
    trace_status(traced, response);
    return response;
  }
  try {
    response = std::visit([this](const auto& c) { return handle(c); }, command);
  } catch (const std::exception&) {
    response = {Result::failure(Status::internal_error, command.index()), {}};
  }
  trace_status(traced, response);
  return response;
}

Psp::Vm* Psp::find(VmHandle vm) {
  const auto it = vms_.find(vm);
  return it == vms_.end() ? nullptr : it->second.get();
}

Psp::VmLookup Psp::find_vm(VmHandle handle, CommandClass what) {
  Vm* vm = find(handle);
  if (vm == nullptr) return {nullptr, Result::failure(Status::invalid_vm, handle)};
  if (allowed(vm->state, what)) return {vm, Result::success()};
  if (refused_as_stopped(vm->state, what)) {
    return {nullptr,
            Result::failure(Status::vm_stopped, static_cast<std::uint64_t>(vm->stop_reason))};
  }
  return {nullptr, Result::failure(Status::invalid_state, static_cast<std::uint64_t>(vm->state))};
}

std::optional<VmInfo> Psp::vm_info(VmHandle handle) const {
  const auto it = vms_.find(handle);
  if (it == vms_.end()) return std::nullopt;
  const Vm& vm = *it->second;
  VmInfo info;
  info.state = vm.state;
  info.stop_reason = vm.stop_reason;
  info.asid = vm.key_asid();
  info.npt_root = vm.npt_root;
  info.policy = vm.policy;
  info.vcpu = vm.vcpu;
  info.private_memory = memory_.used_by(vm.handle);
  info.table_pages = vm.guard ? vm.guard->table_pages() : 0;
  info.guard_frames = vm.guard ? vm.guard->frames() : 0;
  info.guard_directory_bytes = vm.guard ? vm.guard->directory_bytes() : 0;
  info.guard_unsettled_leaves = vm.guard ? vm.guard->unsettled_leaves() : 0;
  info.table_pool = vm.table_pool.size();
  info.tlb_epoch = vm.tlb->epoch();
  info.tlb_oldest_flush = vm.tlb->oldest_flush();
  info.frames_awaiting_flush = vm.frames_awaiting_flush;
  return info;
}

std::optional<hw::VcpuBinding> Psp::vcpu_binding(VmHandle handle) const {
  const auto it = vms_.find(handle);
  if (it == vms_.end() || it->second->state != VmState::running) return std::nullopt;
  return hw::VcpuBinding::issue(hw::PspPasskey{}, it->second->key_asid(), it->second->npt_root,
                                it->second->tlb);
}

Response Psp::handle(const PlatformStatus&) {
  PlatformStatusInfo info;
  info.suite = suite_;
  info.chip_id = fuses_.identity.chip_id;
  info.vms = static_cast<std::uint32_t>(vms_.size());
  for (bool used : asid_in_use_) info.free_asids += used ? 0 : 1;
  info.private_memory_used = memory_.used();
  info.private_memory_budget = memory_.budget();
  return {Result::success(), info};
}

bool Psp::frame_is_free(std::uint64_t hpa) const {
  if (hpa % hw::kFrameSize != 0) return false;
  try {
    mc_.memory().check_range(hpa, hw::kFrameSize);
  } catch (const Error&) {
    return false;
  }
  const hw::FrameTag t = mc_.tag(hpa);
  return t.use == hw::FrameUse::host && t.owner == 0 && t.guard == hw::FrameGuard::none;
}

void Psp::scrub_frame(std::uint64_t hpa) {
  // Zero the frame's DRAM and hand it back as plain host memory.
  mc_.set_tag(hw::PspPasskey{}, hpa, hw::FrameTag{});
  mc_.write(hpa, Bytes(hw::kFrameSize, 0), as_psp());
}

void Psp::stop(Vm& vm, StopReason reason) {
  vm.state = VmState::stopped;
  vm.stop_reason = reason;
  trace_stop(vm);
}

Response Psp::handle(const VmStop& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::stop);
  if (vm == nullptr) return {refusal, {}};
  stop(*vm, StopReason::requested);
  return {Result::success(), {}};
}

Response Psp::handle(const Decommission& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::any);
  if (vm == nullptr) return {refusal, {}};
  release_disk(*vm);  // the image key leaves the disk controller first
  // Scrub every frame the VM owned (memory, tables, frames awaiting a TLB flush) before the
  // key slot is reused.
  for (std::uint64_t hpa : mc_.frames_of(vm->handle)) scrub_frame(hpa);
  std::erase_if(awaiting_flush_, [&](const auto& entry) { return entry.second.vm == c.vm; });
  mc_.clear_key(hw::PspPasskey{}, vm->asid);
  asid_in_use_[vm->asid] = false;
  vms_.erase(c.vm);
  return {Result::success(), {}};
}

std::vector<VmHandle> Psp::periodic_check() {
  std::vector<VmHandle> stopped;
  for (auto& [handle, vm] : vms_) {
    if (!vm->guard || vm->state == VmState::stopped || vm->state == VmState::refused) continue;
    if (!vm->guard->check_all(mc_)) {
      vm->tampered = true;
      stop(*vm, StopReason::npt_tampered);
      stopped.push_back(handle);
    }
  }
  return stopped;
}

}  // namespace cvmsim::psp
