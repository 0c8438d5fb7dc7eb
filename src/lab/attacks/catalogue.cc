#include "lab/attacks/catalogue.h"

#include <fmt/format.h>

#include <cstdlib>
#include <vector>

#include "lab/attacks/scenarios.h"

namespace cvmsim::lab::attacks {
namespace {

namespace fs = std::filesystem;

// A scenario's private directory, removed when the run ends (whatever the outcome).
class ScratchDir {
 public:
  explicit ScratchDir(const fs::path& parent) {
    std::string tmpl =
        ((parent.empty() ? fs::temp_directory_path() : parent) / "cvmsim-attack-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw AttackError(AttackErrc::inconclusive, fmt::format("mkdtemp {} failed", tmpl));
    }
    path_ = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

std::span<const Scenario> catalogue() {
  static const std::vector<Scenario> all = [] {
    std::vector<Scenario> v;
    v.insert(v.end(), kNptScenarios, kNptScenarios + kNptScenarioCount);
    v.insert(v.end(), kMemoryScenarios, kMemoryScenarios + kMemoryScenarioCount);
    v.insert(v.end(), kLaunchScenarios, kLaunchScenarios + kLaunchScenarioCount);
    v.insert(v.end(), kImageScenarios, kImageScenarios + kImageScenarioCount);
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

Outcome run_scenario(const Scenario& scenario, RunOptions options) {
  const ScratchDir dir(options.workdir);
  options.workdir = dir.path();
  return scenario.run(options);
}

}  // namespace cvmsim::lab::attacks
