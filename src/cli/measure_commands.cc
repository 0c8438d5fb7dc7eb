// cvmsim measure / sign-reference: the provider's launch-measurement tools.
#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"

namespace cvmsim::cli {
namespace {

struct MeasureOptions {
  std::string firmware;
  std::string suite = "sm";
  std::uint64_t load_gpa = measure::GuestLayout{}.load_gpa;
  OutputFormat format = OutputFormat::text;
  bool json = false;
};

struct SignReferenceOptions {
  std::string provider_dir;
  std::string firmware;
  std::string policy;
  std::string out;
  std::uint64_t load_gpa = measure::GuestLayout{}.load_gpa;
};

measure::GuestLayout layout_at(std::uint64_t load_gpa) {
  measure::GuestLayout layout;
  layout.load_gpa = load_gpa;
  layout.stack_top = load_gpa;
  return layout;
}

void run_measure(const MeasureOptions& o) {
  const crypto::SuiteId suite = crypto::parse_suite(o.suite);
  const measure::GuestLayout layout = layout_at(o.load_gpa);
  const Bytes firmware = read_file(o.firmware, layout.max_firmware_size);
  const measure::LaunchPlan plan = measure::plan_firmware_launch(firmware, layout, o.firmware);
  const Bytes digest = measure::measure_plan(plan, suite);
  if (o.json || o.format == OutputFormat::json) {
    print_json({{"firmware", o.firmware},
                {"suite", crypto::to_string(suite)},
                {"hash", crypto::suite(suite).hash_name()},
                {"firmware_size", plan.firmware_size},
                {"load_gpa", fmt::format("{:#x}", layout.load_gpa)},
                {"pages_measured", plan.pages.size()},
                {"launch_digest", to_hex(digest)}});
    return;
  }
  fmt::print("{}  {}\n", to_hex(digest), o.firmware);
}

void run_sign_reference(const SignReferenceOptions& o) {
  refuse_output_over_inputs("--out", o.out,
                            {{"--firmware", o.firmware}, {"--provider", o.provider_dir}});
  const crypto::Key provider_key = pki::load_provider_key(o.provider_dir);
  const crypto::SuiteId suite = provider_key.suite();
  const measure::GuestLayout layout = layout_at(o.load_gpa);
  const Bytes firmware = read_file(o.firmware, layout.max_firmware_size);
  const Bytes digest =
      measure::measure_plan(measure::plan_firmware_launch(firmware, layout, o.firmware), suite);
  const measure::Policy policy = measure::Policy::parse(o.policy);
  const measure::Reference ref = measure::sign_reference(provider_key, policy, digest);
  write_file_atomic(o.out, ref.encode());
  fmt::print("wrote {}: suite {}, launch digest {}, policy {}\n", o.out, crypto::to_string(suite),
             to_hex(digest), policy.to_string());
}

}  // namespace

void register_measure_commands(CLI::App& app) {
  auto measure_options = std::make_shared<MeasureOptions>();
  CLI::App* measure_cmd =
      app.add_subcommand("measure", "Print the launch digest of a firmware image");
  measure_cmd->add_option("FIRMWARE", measure_options->firmware, "Firmware image (flat binary)")
      ->required()
      ->check(CLI::ExistingFile);
  measure_cmd->add_option("--suite", measure_options->suite, "Crypto suite: sm or nist")
      ->check(CLI::IsMember({"sm", "nist"}))
      ->capture_default_str();
  measure_cmd->add_option("--load-gpa", measure_options->load_gpa,
                          "Guest-physical load address of the firmware")
      ->capture_default_str();
  measure_cmd->add_flag("--json", measure_options->json, "Same as -o json");
  add_output_option(*measure_cmd, measure_options->format);
  measure_cmd->callback([measure_options] { run_measure(*measure_options); });

  auto sign_options = std::make_shared<SignReferenceOptions>();
  CLI::App* sign_cmd = app.add_subcommand(
      "sign-reference", "Measure a firmware image and sign the reference with a provider key");
  sign_cmd->add_option("--provider", sign_options->provider_dir, "Provider directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  sign_cmd->add_option("--firmware", sign_options->firmware, "Firmware image")
      ->required()
      ->check(CLI::ExistingFile);
  sign_cmd->add_option("--policy", sign_options->policy,
                       "Guest policy, e.g. guard=detect,integrity=merkle,memory-encryption=on")
      ->default_str(measure::Policy{}.to_string());
  sign_cmd->add_option("--load-gpa", sign_options->load_gpa, "Firmware load GPA")
      ->capture_default_str();
  sign_cmd->add_option("--out", sign_options->out, "Reference file to write")->required();
  sign_cmd->callback([sign_options] { run_sign_reference(*sign_options); });
}

}  // namespace cvmsim::cli
