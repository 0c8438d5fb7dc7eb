#include "lab/attacks/catalogue.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "common/scratch_dir.h"
#include "lab/attacks/scenarios.h"

namespace cvmsim::lab::attacks {

std::span<const Scenario> catalogue() {
  static const std::vector<Scenario> all = [] {
    std::vector<Scenario> v;
    v.insert(v.end(), kNptScenarios, kNptScenarios + kNptScenarioCount);
    v.insert(v.end(), kMemoryScenarios, kMemoryScenarios + kMemoryScenarioCount);
    v.insert(v.end(), kTlbScenarios, kTlbScenarios + kTlbScenarioCount);
    v.insert(v.end(), kLaunchScenarios, kLaunchScenarios + kLaunchScenarioCount);
    v.insert(v.end(), kImageScenarios, kImageScenarios + kImageScenarioCount);
    v.insert(v.end(), kInterruptScenarios, kInterruptScenarios + kInterruptScenarioCount);
    v.insert(v.end(), kPlatformScenarios, kPlatformScenarios + kPlatformScenarioCount);
    return v;
  }();
  return all;
}

const Scenario& find_scenario(std::string_view name) {
  std::string known;
  for (const Scenario& s : catalogue()) {
    if (s.name == name) return s;
    known += fmt::format("{}{}", known.empty() ? "" : ", ", s.name);
  }
  throw AttackError(AttackErrc::unknown_scenario,
                    fmt::format("no attack scenario named '{}' (known: {})", name, known));
}

RunOptions with_defence(RunOptions options, std::string_view defence) {
  if (defence == "memory-integrity") {
    options.memory_integrity = true;
  } else if (defence == "ciphertext-hiding") {
    options.ciphertext_hiding = true;
  } else {
    throw std::invalid_argument(fmt::format("no memory protection named '{}'", defence));
  }
  return options;
}

Outcome run_scenario(const Scenario& scenario, RunOptions options) {
  const ScratchDir dir("cvmsim-attack", options.workdir);  // removed whatever the outcome
  options.workdir = dir.path();
  if (options.trace != nullptr) {
    // Marks where each scenario's events begin (the VMM's lane: the attacker).
    nlohmann::json args = {{"scenario", scenario.name},
                           {"guard", measure::to_string(options.guard)},
                           {"suite", crypto::to_string(options.suite)}};
    // Only when on, so the traces of runs without them read as before.
    if (options.memory_integrity) args["memory_integrity"] = true;
    if (options.ciphertext_hiding) args["ciphertext_hiding"] = true;
    options.trace->record({.actor = trace::Actor::vmm,
                           .target = std::nullopt,
                           .name = "attack_scenario",
                           .category = trace::category::tool,
                           .args = std::move(args)});
  }
  return scenario.run(options);
}

}  // namespace cvmsim::lab::attacks
