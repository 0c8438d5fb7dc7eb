// The attack lab's catalogue: one row per published or obvious attack of a
// malicious hypervisor, each with a run function that sets up VMs with lab::World,
// misbehaves through the vmm::Misbehaviour seam and the host's powers only (never PSP
// internals, never a PspPasskey), and reports a typed Outcome per guard mode.
#pragma once

#include <filesystem>
#include <span>
#include <string_view>

#include "crypto/suite_id.h"
#include "lab/attacks/outcome.h"
#include "measure/policy.h"
#include "trace/trace.h"

namespace cvmsim::lab::attacks {

struct RunOptions {
  measure::GuardMode guard = measure::GuardMode::detect;
  crypto::SuiteId suite = crypto::SuiteId::sm;
  std::filesystem::path workdir;     // an existing, empty directory the scenario may fill
  trace::Recorder* trace = nullptr;  // records the scenario's platform events (null: off)
  // The victims' memory protections (policy bits 2 and 3): a scenario's `defence`.
  bool memory_integrity = false;
  bool ciphertext_hiding = false;
};

using RunFunction = Outcome (*)(const RunOptions&);

struct Scenario {
  std::string_view name;          // the CLI's NAME
  std::string_view description;   // one sentence: what the hypervisor does
  std::string_view reference;     // published reference, or empty
  bool depends_on_guard = false;  // false: runs once per mode anyway, same protection
  // Why an outcome of `succeeded` in detect or isolate mode is honest (empty: it never is).
  std::string_view guarded_success_reason;
  RunFunction run = nullptr;
  // The policy key of the memory protection that stops it ("memory-integrity",
  // "ciphertext-hiding"; empty: none): the catalogue runs it with the bit off and on.
  std::string_view defence = {};
};

// `options` with the memory protection named `defence` (a Scenario::defence) switched on;
// any other name is a programming error (std::invalid_argument).
RunOptions with_defence(RunOptions options, std::string_view defence);

std::span<const Scenario> catalogue();
// Throws AttackError{unknown_scenario} listing the known names.
const Scenario& find_scenario(std::string_view name);

// Runs `scenario` in a fresh temporary directory under options.workdir (or the system's
// temporary directory when empty), removed afterwards.
Outcome run_scenario(const Scenario& scenario, RunOptions options);

inline constexpr measure::GuardMode kAllModes[] = {
    measure::GuardMode::off, measure::GuardMode::detect, measure::GuardMode::isolate};

}  // namespace cvmsim::lab::attacks
