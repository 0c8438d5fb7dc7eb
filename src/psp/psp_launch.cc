// LAUNCH_START / LAUNCH_UPDATE / LAUNCH_VERIFY / LAUNCH_FINISH.
#include <algorithm>

#include "common/binary.h"
#include "common/error.h"
#include "crypto/suite.h"
#include "hw/npt.h"
#include "measure/reference.h"
#include "psp/psp.h"
#include "psp/status_detail.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

hw::FrameGuard table_guard_for(const measure::Policy& policy) {
  return policy.guard == measure::GuardMode::isolate ? hw::FrameGuard::write_blocked
                                                     : hw::FrameGuard::none;
}

}  // namespace

Response Psp::handle(const LaunchStart& c) {
  measure::Policy policy;
  try {
    policy = measure::Policy::decode(c.policy, "LAUNCH_START policy");
  } catch (const Error&) {
    return Response::refused(Status::invalid_parameter, c.policy);
  }
  if (const Result r = frame_available(c.npt_root_hpa); !r.ok()) return {r, {}};
  const auto free_asid = std::find(asid_in_use_.begin() + 1, asid_in_use_.end(), false);
  if (free_asid == asid_in_use_.end()) return Response::refused(Status::resource_exhausted, 0);
  const auto asid = static_cast<std::uint32_t>(free_asid - asid_in_use_.begin());
  const VmHandle handle = next_handle_;
  auto vm = std::make_unique<Vm>(handle, asid, policy, suite_);
  if (!memory_.try_allocate(handle, kVmContextBytes + kGuardPrivateBytes, vm->footprint)) {
    return Response::refused(Status::resource_exhausted, memory_.budget() - memory_.used());
  }
  // Nothing can fail from here on.
  ++next_handle_;
  asid_in_use_[asid] = true;
  claim_frame(c.npt_root_hpa);
  vm->tlb = std::make_shared<hw::TlbTracker>(hw::PspPasskey{});
  // A fresh VEK for every launch: a reused ASID never sees an old key.
  Bytes vek;
  const crypto::Suite& s = crypto::suite(suite_);
  do {
    vek = crypto::random_bytes(s.xts_key_size());
  } while (equal_constant_time(ByteView(vek).first(vek.size() / 2),
                               ByteView(vek).subspan(vek.size() / 2)));
  // The policy's memory protections go with the key slot: every frame tagged with it, from
  // LAUNCH_UPDATE to DECOMMISSION (or the hand-over of a frame NPT_UNMAP took), has them.
  if (policy.memory_encryption) {
    mc_.load_key(hw::PspPasskey{}, asid, vek,
                 {.refuse_foreign_writes = policy.memory_integrity,
                  .hide_ciphertext = policy.ciphertext_hiding});
  }
  secure_wipe(vek);
  vm->npt_root = c.npt_root_hpa;
  mc_.set_tag(hw::PspPasskey{}, c.npt_root_hpa,
              {0, handle, hw::FrameUse::npt, table_guard_for(policy)});
  mc_.write(c.npt_root_hpa, Bytes(hw::kFrameSize, 0), as_psp());
  if (vm->guarded()) {
    vm->guard = std::make_unique<TableGuard>(suite_, policy.npt_integrity, as_psp());
    vm->guard->add_table(mc_, c.npt_root_hpa);
  }
  vms_.emplace(handle, std::move(vm));
  return {Result::success(), LaunchStartInfo{handle, asid}};
}

Response Psp::handle(const LaunchUpdate& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::launch_update);
  if (vm == nullptr) return {refusal, {}};
  if (c.type == measure::PageType::vcpu_state) {
    if (c.contents.size() != measure::kPageSize) {
      return Response::refused(Status::invalid_parameter,
                               detail(LaunchParameterDetail::vcpu_page_size));
    }
    ByteReader r(c.contents, "vcpu state page");
    const ByteView magic = r.bytes("magic", 8);
    if (!equal_constant_time(magic, as_bytes("CVMSVCPU")) || r.u32("version") != 1) {
      return Response::refused(Status::invalid_parameter,
                               detail(LaunchParameterDetail::vcpu_page_magic));
    }
    (void)r.u32("reserved");
    vm->vcpu.rip = r.u64("rip");
    vm->vcpu.rsp = r.u64("rsp");
    vm->vcpu.rflags = r.u64("rflags");
    vm->digest.extend(measure::kVcpuStateGpa, c.type, c.contents);
    return {Result::success(), {}};
  }
  const bool zero = c.type == measure::PageType::zero;
  if (c.type != measure::PageType::firmware && !zero) {
    return Response::refused(Status::invalid_parameter, detail(LaunchParameterDetail::page_type));
  }
  if (c.contents.size() != (zero ? 0 : measure::kPageSize)) {
    return Response::refused(Status::invalid_parameter, c.contents.size());
  }
  if (c.gpa % hw::kFrameSize != 0 || c.gpa >= hw::npt::kGpaLimit) {
    return Response::refused(Status::invalid_address, c.gpa);
  }
  if (const Result r = frame_available(c.hpa); !r.ok()) return {r, {}};
  if (hw::npt::walk(mc_, vm->npt_root, c.gpa, hw::npt::Access::read).ok()) {
    return Response::refused(Status::already_mapped, c.gpa);
  }
  // Every check comes before the frame is claimed, tagged or written: a failed
  // LAUNCH_UPDATE leaves the donated frame as the host gave it.
  if (const Result r = check_install(*vm, c.gpa); !r.ok()) return {r, {}};
  claim_frame(c.hpa);
  mc_.set_tag(hw::PspPasskey{}, c.hpa,
              {vm->key_asid(), vm->handle, hw::FrameUse::guest, hw::FrameGuard::none});
  const hw::Requester as_vm = as_psp(vm->key_asid());
  mc_.write(c.hpa, zero ? Bytes(hw::kFrameSize, 0) : c.contents, as_vm);
  write_mapping(
      *vm, c.gpa,
      hw::npt::make_entry(c.hpa, hw::npt::kPresent | hw::npt::kWritable | hw::npt::kExecutable));
  if (vm->guard) vm->guard->update_pages(mc_, path_tables(*vm, c.gpa));
  vm->digest.extend(c.gpa, c.type, c.contents);
  return {Result::success(), {}};
}

Response Psp::handle(const LaunchVerify& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::launch_update);
  if (vm == nullptr) return {refusal, {}};
  try {
    const measure::Reference ref = measure::Reference::decode(c.reference, "reference");
    const crypto::Key provider = crypto::Key::parse(c.provider_key, "provider key");
    ref.verify(provider);
    if (ref.suite != suite_) {
      return Response::refused(Status::invalid_parameter,
                               detail(LaunchParameterDetail::reference_suite));
    }
    if (!equal_constant_time(ref.launch_digest, vm->digest.value())) {
      vm->firmware_check = attest::FirmwareCheck::mismatch;
      vm->state = VmState::refused;
      return Response::refused(Status::measurement_mismatch, vm->digest.pages());
    }
    if (ref.policy != vm->policy) {
      vm->state = VmState::refused;
      return Response::refused(Status::policy_violation, ref.policy.encode());
    }
    vm->firmware_check = attest::FirmwareCheck::matched;
    vm->provider_key_id = ref.provider_key_id;
  } catch (const Error&) {
    vm->state = VmState::refused;
    return Response::refused(Status::bad_signature, 0);
  }
  vm->state = VmState::verified;
  return {Result::success(), {}};
}

Response Psp::handle(const LaunchFinish& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::launch_finish);
  if (vm == nullptr) return {refusal, {}};
  vm->state = VmState::running;
  return {Result::success(), {}};
}

}  // namespace cvmsim::psp
