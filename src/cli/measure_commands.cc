// cvmsim measure / sign-reference: the provider's launch-measurement tools.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/launch_digest.h"
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
  bool explain = false;
};

struct SignReferenceOptions {
  std::string provider_dir;
  std::string firmware;
  std::string policy;
  std::string out;
  std::uint64_t load_gpa = measure::GuestLayout{}.load_gpa;
  OutputFormat format = OutputFormat::text;
};

measure::GuestLayout layout_at(std::uint64_t load_gpa) {
  measure::GuestLayout layout;
  layout.load_gpa = load_gpa;
  layout.stack_top = load_gpa;
  return layout;
}

std::string_view page_type_name(measure::PageType type) {
  switch (type) {
    case measure::PageType::firmware:
      return "firmware";
    case measure::PageType::zero:
      return "zero";
    case measure::PageType::vcpu_state:
      return "vcpu_state";
  }
  return "unknown";
}

// Every page record of the launch digest (docs/formats.md "Launch digest"), in order: the
// GPA, the type, the digest of the contents and the chained digest after the record, as
// `sev-snp-measure -v` lists them, so a provider can see where two measurements part.
nlohmann::json page_records(const measure::LaunchPlan& plan, crypto::SuiteId suite) {
  const crypto::Suite& s = crypto::suite(suite);
  measure::LaunchDigest digest(suite);
  nlohmann::json records = nlohmann::json::array();
  for (const measure::LaunchPage& page : plan.pages) {
    digest.extend(page.gpa, page.type, page.contents);
    const Bytes contents =
        page.type == measure::PageType::zero ? Bytes(s.digest_size(), 0) : s.hash(page.contents);
    records.push_back({{"index", records.size()},
                       {"gpa", page.gpa},
                       {"type", page_type_name(page.type)},
                       {"type_code", static_cast<int>(page.type)},
                       {"contents_digest", to_hex(contents)},
                       {"digest_after", to_hex(digest.value())}});
  }
  return records;
}

void run_measure(const MeasureOptions& o) {
  const crypto::SuiteId suite = crypto::parse_suite(o.suite);
  const measure::GuestLayout layout = layout_at(o.load_gpa);
  const Bytes firmware = read_file(o.firmware, layout.max_firmware_size);
  const measure::LaunchPlan plan = measure::plan_firmware_launch(firmware, layout, o.firmware);
  const Bytes digest = measure::measure_plan(plan, suite);
  if (o.json || o.format == OutputFormat::json) {
    nlohmann::json doc{{"firmware", o.firmware},
                       {"suite", crypto::to_string(suite)},
                       {"hash", crypto::suite(suite).hash_name()},
                       {"firmware_size", plan.firmware_size},
                       {"load_gpa", layout.load_gpa},
                       {"pages_measured", plan.pages.size()},
                       {"launch_digest", to_hex(digest)}};
    if (o.explain) doc["pages"] = page_records(plan, suite);
    print_json(doc);
    return;
  }
  if (o.explain) {
    fmt::print("# {} page records of {} ({}), in LAUNCH_UPDATE order\n", plan.pages.size(),
               o.firmware, crypto::suite(suite).hash_name());
    fmt::print("# index  GPA                 type        contents digest -> digest after\n");
    for (const auto& r : page_records(plan, suite)) {
      fmt::print("{:5}  {:#018x}  {:<10}  {} -> {}\n", r["index"].get<std::size_t>(),
                 r["gpa"].get<std::uint64_t>(), r["type"].get<std::string>(),
                 r["contents_digest"].get<std::string>(), r["digest_after"].get<std::string>());
    }
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
  if (o.format == OutputFormat::json) {
    print_json({{"reference", o.out},
                {"firmware", o.firmware},
                {"suite", crypto::to_string(suite)},
                {"launch_digest", to_hex(digest)},
                {"policy", policy.encode()},
                {"policy_decoded", policy.to_string()},
                {"provider_key_id", to_hex(ref.provider_key_id)}});
    return;
  }
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
  measure_cmd
      ->add_option("--load-gpa", measure_options->load_gpa,
                   "Guest-physical load address of the firmware")
      ->capture_default_str();
  measure_cmd->add_flag("--json", measure_options->json, "Same as -o json");
  measure_cmd->add_flag("--explain", measure_options->explain,
                        "List every measured page record: GPA, type, contents digest and the "
                        "digest after it");
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
  sign_cmd
      ->add_option("--policy", sign_options->policy,
                   "Guest policy, e.g. guard=detect,integrity=merkle,memory-encryption=on")
      ->default_str(measure::Policy{}.to_string());
  sign_cmd->add_option("--load-gpa", sign_options->load_gpa, "Firmware load GPA")
      ->capture_default_str();
  sign_cmd->add_option("--out", sign_options->out, "Reference file to write")->required();
  add_output_option(*sign_cmd, sign_options->format);
  sign_cmd->callback([sign_options] { run_sign_reference(*sign_options); });
}

}  // namespace cvmsim::cli
