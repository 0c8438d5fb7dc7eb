#include "fault_timing.h"

#include <utility>

#include "crypto/suite.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"

namespace cvmsim::bench {
namespace {

measure::Policy merkle_policy(measure::GuardMode guard) {
  measure::Policy policy;
  policy.guard = guard;
  policy.npt_integrity = measure::NptIntegrity::merkle;
  return policy;
}

}  // namespace

FaultTimingWorld::FaultTimingWorld(std::string_view scratch_prefix, crypto::SuiteId suite,
                                   measure::GuardMode guard, Bytes firmware)
    : dir_(scratch_prefix),
      provider_(crypto::suite(suite).generate_key()),
      policy_(merkle_policy(guard)),
      firmware_(std::move(firmware)),
      digest_(measure::measure_plan(
          measure::plan_firmware_launch(firmware_, measure::GuestLayout{}, "fw"), suite)) {
  pki::create_vendor(dir_ / "v", suite, "V", false);
  pki::create_chip(dir_ / "v", chip_dir(), false);
}

psp::VmHandle FaultTimingWorld::launch(vmm::Vmm& vmm, std::uint64_t memory_size,
                                       std::uint64_t fault_around,
                                       std::shared_ptr<vmm::Misbehaviour> observer) const {
  return launch(vmm, memory_size, fault_around, std::move(observer), policy_.memory_integrity,
                policy_.ciphertext_hiding);
}

psp::VmHandle FaultTimingWorld::launch(vmm::Vmm& vmm, std::uint64_t memory_size,
                                       std::uint64_t fault_around,
                                       std::shared_ptr<vmm::Misbehaviour> observer,
                                       bool memory_integrity, bool ciphertext_hiding) const {
  measure::Policy policy = policy_;
  policy.memory_integrity = memory_integrity;
  policy.ciphertext_hiding = ciphertext_hiding;
  vmm.set_check_interval(0);
  vmm.set_fault_around(fault_around);
  vmm.set_misbehaviour(std::move(observer));
  vmm::LaunchRequest request;
  request.firmware = firmware_;
  request.reference = measure::sign_reference(provider_, policy, digest_).encode();
  request.provider_key = provider_.public_der();
  request.policy = policy;
  request.memory_size = memory_size;
  return vmm.launch(request);
}

}  // namespace cvmsim::bench
