// Renderings of scenario outcomes: one scenario as text or JSON, the whole catalogue as a
// terminal table, JSON, or the Markdown of docs/attacks.md (generated, never hand-written).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "lab/attacks/catalogue.h"

namespace cvmsim::lab::attacks {

struct ScenarioRun {
  const Scenario* scenario = nullptr;
  std::vector<std::pair<measure::GuardMode, Outcome>> outcomes;  // in kAllModes order
  // With the scenario's defence (Scenario::defence) on; empty when it has none.
  std::vector<std::pair<measure::GuardMode, Outcome>> defended;
};

// Called after each run with (runs done, runs in all).
using CatalogueProgress = std::function<void(std::size_t, std::size_t)>;

// Runs every scenario in every mode, and those with a defence once more with it on.
std::vector<ScenarioRun> run_catalogue(crypto::SuiteId suite,
                                       const std::filesystem::path& workdir = {},
                                       trace::Recorder* trace = nullptr,
                                       const CatalogueProgress& progress = {});

// "prevented by X", "detected by X after N sim-us", "succeeded: effect".
std::string summarize(const Outcome& outcome);
nlohmann::json to_json(const Outcome& outcome);
nlohmann::json to_json(const Scenario& scenario);
nlohmann::json to_json(const std::vector<ScenarioRun>& runs);
std::string render_table(const std::vector<ScenarioRun>& runs);
std::string render_markdown(const std::vector<ScenarioRun>& runs, crypto::SuiteId suite);

}  // namespace cvmsim::lab::attacks
