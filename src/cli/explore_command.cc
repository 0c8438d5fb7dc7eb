// cvmsim explore: every sequence of host actions up to a depth against a small platform
// (two launched VMs, spare frames, the PSP timer), with the platform's invariants checked
// after every step (docs/fuzzing.md, "Exhaustive exploration"). Exit 5 when an invariant
// breaks, printing the shortest sequence that breaks it.
#include <fmt/core.h>

#include <chrono>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/scratch_dir.h"
#include "crypto/suite_id.h"
#include "lab/explore/explorer.h"

namespace cvmsim::cli {
namespace {

struct ExploreOptions {
  std::size_t depth = 4;
  std::string guard = "detect";
  std::string suite = "sm";
  OutputFormat format = OutputFormat::text;
};

void run_explore(const ExploreOptions& o) {
  ScratchDir scratch("cvmsim-explore");
  const lab::World world(scratch.path(), crypto::parse_suite(o.suite));
  lab::explore::WorldConfig config;
  config.guard = measure::Policy::parse("guard=" + o.guard).guard;
  const lab::explore::WorldSetup setup(world, config);
  const auto alphabet = lab::explore::exploration_alphabet(config.vms);
  const auto start = std::chrono::steady_clock::now();  // reported only; never simulated
  const auto result =
      lab::explore::explore(setup, o.depth, alphabet, [&](const lab::explore::ExploreStats& s) {
        if (o.format == OutputFormat::text) {
          fmt::print(stderr, "depth {}: {} states, {} sequences\n", s.depth, s.states, s.sequences);
        }
      });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& s = result.stats;
  if (o.format == OutputFormat::json) {
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& f : result.findings) {
      nlohmann::json steps = nlohmann::json::array();
      for (const auto& a : f.sequence) steps.push_back(lab::explore::to_string(a));
      findings.push_back({{"sequence", steps}, {"violations", f.violations}});
    }
    print_json({{"suite", o.suite},
                {"guard", o.guard},
                {"alphabet", alphabet.size()},
                {"depth", s.depth},
                {"states", s.states},
                {"sequences", s.sequences},
                {"steps", s.steps},
                {"new_states_per_depth", s.frontier},
                {"seconds", seconds},
                {"findings", findings}});
  } else {
    fmt::print(
        "explored {} actions to depth {} ({} guard, {} suite): {} distinct states, {} "
        "sequences, {} steps, {:.1f} s\n",
        alphabet.size(), s.depth, o.guard, o.suite, s.states, s.sequences, s.steps, seconds);
    for (const auto& f : result.findings) {
      fmt::print("\nINVARIANT BROKEN after:\n{}\n", lab::explore::to_string(f.sequence));
      for (const auto& v : f.violations) fmt::print("  - {}\n", v);
    }
    if (result.findings.empty()) fmt::print("every invariant held after every step\n");
  }
  if (!result.findings.empty()) throw ExitWith{kExitExpectation};
}

}  // namespace

void register_explore_command(CLI::App& app) {
  auto o = std::make_shared<ExploreOptions>();
  CLI::App* cmd = app.add_subcommand(
      "explore", "Check the platform's invariants after every host action sequence up to a depth");
  cmd->add_option("--depth", o->depth, "Longest sequence")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10}))
      ->default_str("4");
  cmd->add_option("--guard", o->guard, "Guard mode of the VMs")
      ->check(CLI::IsMember({"detect", "isolate"}))
      ->default_str("detect");
  cmd->add_option("--suite", o->suite, "Crypto suite")
      ->check(CLI::IsMember({"sm", "nist"}))
      ->default_str("sm");
  add_output_option(*cmd, o->format);
  cmd->callback([o] { run_explore(*o); });
}

}  // namespace cvmsim::cli
