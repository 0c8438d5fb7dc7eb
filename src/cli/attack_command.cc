// cvmsim attack: the attack lab (docs/attacks.md). `list` names the scenarios, `run` runs
// one in one guard mode, `all` runs the catalogue in every mode and renders the table.
#include <fmt/core.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_bar.h"
#include "lab/attacks/catalogue.h"
#include "lab/attacks/render.h"

namespace cvmsim::cli {
namespace {

namespace attacks = lab::attacks;

struct AttackOptions {
  std::string name;
  std::string guard = "detect";
  std::string suite = "sm";
  std::string all_format = "table";
  std::string trace_out;  // the event trace (Chrome Trace Event JSON)
  bool defence = false;   // the scenario's memory protection on (Scenario::defence)
  OutputFormat format = OutputFormat::text;
};

measure::GuardMode parse_guard(const std::string& text) {
  return measure::Policy::parse("guard=" + text).guard;
}

void list_scenarios(OutputFormat format) {
  if (format == OutputFormat::json) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : attacks::catalogue()) all.push_back(attacks::to_json(s));
    print_json(all);
    return;
  }
  for (const auto& s : attacks::catalogue()) {
    fmt::print("{:<26} {}{}\n", s.name, s.description,
               s.depends_on_guard ? "" : " (guard-independent)");
  }
}

void run_one(const AttackOptions& o) {
  const attacks::Scenario& s = attacks::find_scenario(o.name);
  const measure::GuardMode guard = parse_guard(o.guard);
  trace::Recorder recorder;
  attacks::RunOptions options{
      guard, crypto::parse_suite(o.suite), {}, o.trace_out.empty() ? nullptr : &recorder};
  if (o.defence) {
    if (s.defence.empty()) {
      throw CLI::ValidationError("--defence",
                                 fmt::format("scenario '{}' has no memory protection to switch "
                                             "on (docs/attacks.md lists those that have)",
                                             s.name));
    }
    options = attacks::with_defence(options, s.defence);
  }
  const attacks::Outcome outcome = attacks::run_scenario(s, options);
  if (!o.trace_out.empty()) write_trace(o.trace_out, recorder.events());
  if (o.format == OutputFormat::json) {
    nlohmann::json j = attacks::to_json(s);
    j["guard"] = std::string(measure::to_string(guard));
    j["suite"] = o.suite;
    if (o.defence) j["with_defence"] = true;
    j["result"] = attacks::to_json(outcome);
    print_json(j);
    return;
  }
  fmt::print("{} (guard {}{}): {}\n", s.name, measure::to_string(guard),
             o.defence ? fmt::format(", {}=on", s.defence) : "", attacks::summarize(outcome));
}

void run_all(const AttackOptions& o) {
  const crypto::SuiteId suite = crypto::parse_suite(o.suite);
  trace::Recorder recorder;
  ProgressBar progress("attack runs", ProgressBar::Unit::runs);
  const auto runs = attacks::run_catalogue(
      suite, {}, o.trace_out.empty() ? nullptr : &recorder,
      [&progress](std::size_t done, std::size_t total) { progress.update(done, total); });
  if (!o.trace_out.empty()) write_trace(o.trace_out, recorder.events());
  if (o.all_format == "json") {
    print_json(attacks::to_json(runs));
  } else if (o.all_format == "markdown") {
    fmt::print("{}", attacks::render_markdown(runs, suite));
  } else {
    fmt::print("{}", attacks::render_table(runs));
  }
}

}  // namespace

void register_attack_commands(CLI::App& app) {
  auto o = std::make_shared<AttackOptions>();
  CLI::App* attack = app.add_subcommand("attack",
                                        "The attack lab: a malicious hypervisor "
                                        "against every protection");
  attack->require_subcommand(1);

  CLI::App* list = attack->add_subcommand("list", "List the attack scenarios");
  add_output_option(*list, o->format);
  list->callback([o] { list_scenarios(o->format); });

  CLI::App* run = attack->add_subcommand("run", "Run one scenario in one guard mode");
  run->add_option("name", o->name, "Scenario name (cvmsim attack list)")->required();
  run->add_option("--guard", o->guard, "Guard mode of the victim VMs")
      ->check(CLI::IsMember({"off", "detect", "isolate"}));
  run->add_option("--suite", o->suite, "Crypto suite")->check(CLI::IsMember({"sm", "nist"}));
  run->add_option("--trace", o->trace_out,
                  "Write the scenario's event trace here (Chrome Trace Event JSON)");
  run->add_flag("--defence", o->defence,
                "Launch the victims with the scenario's memory protection on (its policy bit: "
                "memory-integrity or ciphertext-hiding)");
  add_output_option(*run, o->format);
  run->callback([o] { run_one(*o); });

  CLI::App* all = attack->add_subcommand("all", "Run every scenario in every guard mode");
  all->add_option("--suite", o->suite, "Crypto suite")->check(CLI::IsMember({"sm", "nist"}));
  all->add_option("-o,--output", o->all_format, "table, json or markdown (docs/attacks.md)")
      ->check(CLI::IsMember({"table", "json", "markdown"}));
  all->add_option("--trace", o->trace_out,
                  "Write the event trace of every run here (Chrome Trace Event JSON)");
  all->callback([o] { run_all(*o); });
}

}  // namespace cvmsim::cli
