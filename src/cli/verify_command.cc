// cvmsim verify: the tenant's check of an attestation report (docs/cli.md "cvmsim verify").
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "attest/appraisal_policy.h"
#include "attest/ear.h"
#include "attest/verifier.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/policy.h"
#include "pki/certificate.h"

namespace cvmsim::cli {
namespace {

// Where the trusted vendor root comes from when --root is not given. A chain carries its
// own root, but trusting that would let anyone who makes a chain sign reports, so the
// anchor must come from the tenant: --root, or this variable naming a pinned root file.
constexpr const char* kRootVariable = "CVMSIM_VENDOR_ROOT";
constexpr std::uint64_t kMaxInputFile = 1 << 20;

struct VerifyOptions {
  std::string report;
  std::string chain;
  std::string root;
  std::string nonce;
  std::string measurement;
  std::string provider;
  std::string disk_root;
  std::string min_disk_version;
  std::string policy;
  std::vector<std::string> require;  // memory protections the report's policy must have
  std::string ear_out;
  bool allow_unchecked = false;
  OutputFormat format = OutputFormat::text;
};

Bytes hex_option(const std::string& option, const std::string& text) {
  try {
    return from_hex(text, option);
  } catch (const Error& e) {
    throw CLI::ValidationError(e.what());  // from_hex names the option already
  }
}

// A decimal u64: digits only (no sign, no spaces), at most 2^64 - 1.
std::uint64_t disk_version_option(const std::string& text) {
  const char* const end = text.data() + text.size();
  std::uint64_t value = 0;
  const auto [stop, error] = std::from_chars(text.data(), end, value, 10);
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front())) || stop != end ||
      error != std::errc{}) {
    throw CLI::ValidationError("--min-disk-version",
                               fmt::format("'{}' is not a disk version (a decimal number, 0 to {})",
                                           text, std::numeric_limits<std::uint64_t>::max()));
  }
  return value;
}

std::string root_path(const VerifyOptions& o) {
  if (!o.root.empty()) return o.root;
  const char* pinned = std::getenv(kRootVariable);  // NOLINT(concurrency-mt-unsafe)
  if (pinned != nullptr && *pinned != '\0') return pinned;
  throw CLI::ValidationError(
      "--root", fmt::format("no trusted vendor root: pass --root vendor/root.pem or set {} to "
                            "the pinned root's file",
                            kRootVariable));
}

// A provider certificate (provider.pem) or a provider public key, PEM or DER.
crypto::Key load_provider_public_key(const std::string& file) {
  return pki::certificate_or_key(read_file(file, kMaxInputFile), file);
}

attest::Expectations expectations_from(const VerifyOptions& o) {
  attest::Expectations e;
  if (!o.nonce.empty()) {
    Bytes nonce = hex_option("--nonce", o.nonce);
    if (nonce.size() > attest::kReportDataSize) {
      throw CLI::ValidationError(
          "--nonce", fmt::format("{} bytes; report data holds at most {} (shorter nonces are "
                                 "zero padded)",
                                 nonce.size(), attest::kReportDataSize));
    }
    e.nonce = std::move(nonce);
  }
  if (!o.measurement.empty()) {
    Bytes digest = hex_option("--expect-measurement", o.measurement);
    if (digest.size() != 32 && digest.size() != 48) {
      throw CLI::ValidationError(
          "--expect-measurement",
          fmt::format("{} bytes; a launch digest has 32 (sm) or 48 (nist)", digest.size()));
    }
    e.launch_digest = std::move(digest);
  }
  if (!o.provider.empty()) e.provider = load_provider_public_key(o.provider);
  if (!o.disk_root.empty()) {
    Bytes root = hex_option("--expect-disk-root", o.disk_root);
    if (root.size() != attest::kDiskRootSize) {
      throw CLI::ValidationError("--expect-disk-root",
                                 fmt::format("{} bytes; a disk root has {} (64 hex digits)",
                                             root.size(), attest::kDiskRootSize));
    }
    e.disk_root = std::move(root);
  }
  if (!o.min_disk_version.empty()) e.min_disk_version = disk_version_option(o.min_disk_version);
  if (!o.policy.empty()) e.policy = attest::load_appraisal_policy(o.policy);
  for (const std::string& name : o.require) {
    const auto bit = measure::protection_bit(name);
    if (!bit) {
      throw CLI::ValidationError("--require",
                                 fmt::format("'{}' is not a memory protection (known: {})", name,
                                             measure::kProtectionNames));
    }
    // The appraisal check reports a missing bit by name, with the policy file's rules.
    if (!e.policy) e.policy.emplace();
    e.policy->required_policy_bits |= *bit;
  }
  e.allow_unchecked = o.allow_unchecked;
  return e;
}

int exit_code_for(attest::FailureClass failure) {
  switch (failure) {
    case attest::FailureClass::none:
      return kExitOk;
    case attest::FailureClass::malformed:
      return kExitError;
    case attest::FailureClass::bad_chain:
      return kExitBadChain;
    case attest::FailureClass::bad_signature:
      return kExitBadSignature;
    case attest::FailureClass::expectation:
      return kExitExpectation;
  }
  return kExitError;
}

std::vector<std::string> failed_checks(const attest::Verification& v) {
  std::vector<std::string> names;
  for (const auto& c : v.checks) {
    if (c.status == attest::CheckStatus::fail) names.emplace_back(attest::to_string(c.id));
  }
  return names;
}

// The expectations left out under --allow-unchecked: a PASS says what it did not check.
std::vector<std::string> unchecked(const attest::Verification& v) {
  std::vector<std::string> names;
  for (auto id :
       {attest::CheckId::nonce, attest::CheckId::measurement, attest::CheckId::provider}) {
    if (v.report && v.check(id).status == attest::CheckStatus::skip) {
      names.emplace_back(attest::to_string(id));
    }
  }
  return names;
}

// The EAR's appraisal-policy-id: the policy file's SHA-384, or the built-in rules alone.
std::string policy_id(const VerifyOptions& o) {
  if (o.policy.empty()) return "cvmsim:default";
  return "cvmsim:appraisal-policy:sha384:" +
         to_hex(crypto::suite(crypto::SuiteId::nist).hash(read_file(o.policy, kMaxInputFile)));
}

void write_ear(const VerifyOptions& o, const attest::Verification& v) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const nlohmann::json claims = attest::ear_claims(
      v, fmt::format("cvmsim {}", CVMSIM_VERSION),
      std::chrono::duration_cast<std::chrono::seconds>(now).count(), policy_id(o));
  write_text_file_atomic(o.ear_out, claims.dump(2) + "\n");
}

void print_json_result(const VerifyOptions& o, const pki::Certificate& root,
                       const attest::Verification& v, int code) {
  nlohmann::ordered_json report = nullptr;
  if (v.report) report = attest::report_json(*v.report);
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  for (const auto& c : v.checks) {
    checks.push_back({{"check", attest::to_string(c.id)},
                      {"status", attest::to_string(c.status)},
                      {"detail", c.detail}});
  }
  print_ordered_json(
      {{"report_file", o.report},
       {"chain_file", o.chain},
       {"trusted_root", root.subject()},
       {"simulated", v.report ? nlohmann::ordered_json(v.report->simulated) : nullptr},
       {"report", report},
       {"checks", checks},
       {"result", v.passed() ? "PASS" : "FAIL"},
       {"failure", attest::to_string(v.failure())},
       {"failed_checks", failed_checks(v)},
       {"unchecked", unchecked(v)},
       {"exit_code", code}});
}

void print_text_result(const VerifyOptions& o, const pki::Certificate& root,
                       const attest::Verification& v, int code) {
  fmt::print("attestation report {}\n", o.report);
  if (v.report) {
    for (const auto& f : attest::describe_report(*v.report)) {
      fmt::print("  {:<19} {}\n", f.name, f.value);
    }
  } else {
    fmt::print("  (not decodable)\n");
  }
  fmt::print("checks (chain {}, trusted root {})\n", o.chain, root.subject());
  for (const auto& c : v.checks) {
    fmt::print("  {}  {:<13} {}\n", attest::to_string(c.status), attest::to_string(c.id), c.detail);
  }
  if (v.passed()) {
    const auto skipped = unchecked(v);
    fmt::print(
        "result: PASS{}{}\n",
        v.report && v.report->simulated ? " (simulated evidence from cvmsim, not hardware)" : "",
        skipped.empty()
            ? ""
            : fmt::format(", UNCHECKED: {} (--allow-unchecked)", fmt::join(skipped, ", ")));
  } else {
    fmt::print("result: FAIL ({}), exit code {}\n", attest::to_string(v.failure()), code);
  }
}

// An evidence directory (cvmsim run --evidence-out) stands for its report.bin, and for its
// chain.pem unless --chain names another.
VerifyOptions resolve_evidence(VerifyOptions o) {
  std::error_code ec;
  if (std::filesystem::is_directory(o.report, ec)) {
    const std::filesystem::path dir = o.report;
    o.report = (dir / "report.bin").string();
    if (o.chain.empty()) o.chain = (dir / "chain.pem").string();
    for (const auto& file : {o.report, o.chain}) {
      if (!std::filesystem::exists(file, ec)) {
        throw CLI::ValidationError(
            "REPORT", fmt::format("{} is a directory without {}: not an evidence bundle from "
                                  "cvmsim run --evidence-out",
                                  dir.string(), file));
      }
    }
  }
  if (o.chain.empty()) {
    throw CLI::ValidationError(
        "--chain",
        "is required (the chip's chain from cvmsim chip export), unless REPORT is "
        "an evidence directory from cvmsim run --evidence-out");
  }
  return o;
}

void run_verify(const VerifyOptions& o) {
  const attest::Expectations expect = expectations_from(o);
  const std::string root_file = root_path(o);
  const pki::Certificate root =
      pki::Certificate::parse(read_file(root_file, kMaxInputFile), root_file);
  const Bytes report = read_file(o.report, kMaxInputFile);
  const Bytes chain = read_file(o.chain, kMaxInputFile);
  const attest::Verification v =
      attest::verify_report(report, o.report, chain, o.chain, root, expect);
  const int code = exit_code_for(v.failure());
  if (!o.ear_out.empty()) write_ear(o, v);
  if (o.format == OutputFormat::json) {
    print_json_result(o, root, v, code);
  } else {
    print_text_result(o, root, v, code);
  }
  if (code != kExitOk) {
    const auto failed = failed_checks(v);
    fmt::print(stderr, "cvmsim: verify FAILED: {} ({}, exit code {})\n", fmt::join(failed, ", "),
               attest::to_string(v.failure()), code);
    throw ExitWith{code};
  }
}

}  // namespace

void register_verify_command(CLI::App& app) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check an attestation report: chain, signature, nonce, measurement, provider");
  cmd->add_option("REPORT", o->report,
                  "Attestation report (CVMSRPT1), or an evidence directory (run --evidence-out)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--chain", o->chain,
                  "The chip's certificate chain (cvmsim chip export); default: the evidence "
                  "directory's chain.pem")
      ->check(CLI::ExistingFile);
  cmd->add_option("--root", o->root,
                  fmt::format("Trusted vendor root certificate (default: the file named by {})",
                              kRootVariable))
      ->check(CLI::ExistingFile);
  cmd->add_option("--nonce", o->nonce,
                  "Expected report data as hex, at most 64 bytes (zero padded on the right)");
  cmd->add_option("--expect-measurement", o->measurement, "Expected launch digest (hex)");
  cmd->add_option("--expect-provider", o->provider,
                  "Expected provider: its certificate (provider.pem) or public key")
      ->check(CLI::ExistingFile);
  cmd->add_option("--expect-disk-root", o->disk_root,
                  "Expected root of the authenticated disk image (64 hex digits); the report "
                  "must carry an authenticated image with exactly this root");
  cmd->add_option("--min-disk-version", o->min_disk_version,
                  "Least accepted version of the authenticated disk image (decimal); the report "
                  "must carry an authenticated image at this version or later");
  cmd->add_option("--policy", o->policy,
                  "Appraisal policy (JSON): accepted launch digests, providers, chips, minimum "
                  "guard mode, NPT integrity, required policy bits, disk root and minimum disk "
                  "version (docs/formats.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--require", o->require,
                  "Policy bits the report must show, comma separated: memory-integrity, "
                  "ciphertext-hiding (the appraisal check FAILs naming each missing one)")
      ->delimiter(',');
  cmd->add_flag("--allow-unchecked", o->allow_unchecked,
                "Accept a report without a nonce, expected measurement or expected provider "
                "(those checks SKIP instead of FAIL; a replayed report would pass)");
  cmd->add_option("--ear-out", o->ear_out,
                  "Also write the result as an IETF RATS EAR claims set (JSON) to this file");
  add_output_option(*cmd, o->format);
  cmd->callback([o] {
    refuse_output_over_inputs("--ear-out", o->ear_out,
                              {{"REPORT", o->report},
                               {"--chain", o->chain},
                               {"--root", o->root},
                               {"--expect-provider", o->provider},
                               {"--policy", o->policy}});
    run_verify(resolve_evidence(*o));
  });
}

}  // namespace cvmsim::cli
