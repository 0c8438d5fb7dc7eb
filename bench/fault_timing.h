// What the fault benchmarks (bench_vmm.cc, bench_memory_scale.cc) share: a chip and a
// provider in a scratch directory, a guest firmware launched on it with a signed
// reference, and a VMM set up so that the time between nested-page-fault exits is the
// fault round trip and nothing else.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "common/scratch_dir.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"
#include "measure/policy.h"
#include "vmm/vmm.h"

namespace cvmsim::bench {

class FaultTimingWorld {
 public:
  // A fresh vendor and chip for `suite`, and `firmware` measured for guard mode `guard`
  // with a Merkle characteristic value.
  FaultTimingWorld(std::string_view scratch_prefix, crypto::SuiteId suite, measure::GuardMode guard,
                   Bytes firmware);

  [[nodiscard]] std::filesystem::path chip_dir() const { return dir_.path() / "c"; }

  // Launches the firmware with `memory_size` bytes of guest memory on `vmm`, after turning
  // off the periodic check (it has its own benchmark), mapping `fault_around` pages per
  // fault and installing `observer`, which sees every exit.
  psp::VmHandle launch(vmm::Vmm& vmm, std::uint64_t memory_size, std::uint64_t fault_around,
                       std::shared_ptr<vmm::Misbehaviour> observer) const;
  // The same with the memory protections (policy bits memory-integrity and
  // ciphertext-hiding) set as given: the reference is signed for that policy.
  psp::VmHandle launch(vmm::Vmm& vmm, std::uint64_t memory_size, std::uint64_t fault_around,
                       std::shared_ptr<vmm::Misbehaviour> observer, bool memory_integrity,
                       bool ciphertext_hiding) const;

 private:
  ScratchDir dir_;
  crypto::Key provider_;
  measure::Policy policy_;
  Bytes firmware_;
  Bytes digest_;
};

}  // namespace cvmsim::bench
