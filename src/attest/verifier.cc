#include "attest/verifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "common/error.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/policy.h"
#include "measure/reference.h"
#include "pki/identity.h"

namespace cvmsim::attest {
namespace {

CheckResult pass(CheckId id, std::string detail) {
  return {id, CheckStatus::pass, std::move(detail)};
}
CheckResult fail(CheckId id, std::string hint) {
  return {id, CheckStatus::fail, std::move(hint)};
}
CheckResult skip(CheckId id, std::string why) {
  return {id, CheckStatus::skip, std::move(why)};
}

// An expectation the tenant did not give: FAIL unless the caller allowed unchecked reports.
CheckResult unchecked(const Expectations& e, CheckId id, const std::string& what) {
  if (e.allow_unchecked) return skip(id, what + " (allowed by --allow-unchecked)");
  return fail(id, what + "; give it, or accept an unchecked report with --allow-unchecked");
}

FailureClass class_of(CheckId id) {
  switch (id) {
    case CheckId::format:
      return FailureClass::malformed;
    case CheckId::chain:
      return FailureClass::bad_chain;
    case CheckId::chip_id:
    case CheckId::signature:
      return FailureClass::bad_signature;
    default:
      return FailureClass::expectation;
  }
}

// Lower is more fundamental: a bad chain makes the signature meaningless, a bad signature
// makes the content meaningless.
int rank(FailureClass c) {
  switch (c) {
    case FailureClass::malformed:
      return 0;
    case FailureClass::bad_chain:
      return 1;
    case FailureClass::bad_signature:
      return 2;
    case FailureClass::expectation:
      return 3;
    case FailureClass::none:
      return 4;
  }
  return 4;
}

std::string psp_version_text(std::uint32_t v) {
  return fmt::format("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff);
}

// The disk root field as encoded: zeros without an authenticated image.
std::string disk_root_field(const Report& r) {
  return r.disk_root.empty() ? to_hex(Bytes(kDiskRootSize, 0)) : to_hex(r.disk_root);
}

std::string guard_mode_name(std::uint8_t mode) {
  return std::string(measure::to_string(static_cast<measure::GuardMode>(mode)));
}

CheckResult check_simulator(const Report& r) {
  if (r.simulated) {
    return pass(CheckId::simulator,
                "SIMULATED: produced by the cvmsim simulator, not hardware evidence");
  }
  return fail(CheckId::simulator,
              "the simulator flag is clear, but only the cvmsim simulator makes CVMSRPT1 "
              "reports: refuse a report that claims to be hardware evidence");
}

CheckResult check_chip_id(const Report& r, const pki::ChipIdentity& chip) {
  if (r.chip_id == chip.chip_id) {
    return pass(CheckId::chip_id,
                fmt::format("report names chip {}, the chain's chip", to_hex(r.chip_id)));
  }
  return fail(CheckId::chip_id,
              fmt::format("report names chip {} but the chain is for chip {}: the report comes "
                          "from another chip (export that chip's chain)",
                          to_hex(r.chip_id), to_hex(chip.chip_id)));
}

CheckResult check_signature(const Report& r, const pki::ChipIdentity& chip) {
  const std::string key_name = chip.attestation.common_name();
  if (r.suite != chip.suite) {
    return fail(CheckId::signature,
                fmt::format("report is of suite {} but the chain is of suite {}: it was not "
                            "signed by {}",
                            crypto::to_string(r.suite), crypto::to_string(chip.suite), key_name));
  }
  if (r.signature_valid(chip.attestation.public_key())) {
    return pass(CheckId::signature,
                fmt::format("signed by {} over bytes [0, {})", key_name, kReportSignedSize));
  }
  return fail(CheckId::signature,
              fmt::format("the signature over bytes [0, {}) does not verify with {}: the report "
                          "was altered or signed by another key",
                          kReportSignedSize, key_name));
}

CheckResult check_nonce(const Report& r, const Expectations& e) {
  if (!e.nonce) {
    return unchecked(e, CheckId::nonce,
                     "no nonce given (--nonce): freshness not checked, a replayed report "
                     "would pass");
  }
  const auto expected = report_data_from_nonce(*e.nonce);
  if (!expected) {
    return fail(CheckId::nonce, fmt::format("the expected nonce has {} bytes; report data holds "
                                            "at most {}",
                                            e.nonce->size(), kReportDataSize));
  }
  if (equal_constant_time(*expected, r.report_data)) {
    return pass(CheckId::nonce, fmt::format("report data is the nonce {}", to_hex(*e.nonce)));
  }
  return fail(CheckId::nonce,
              fmt::format("report data {} is not the nonce {} (zero padded to {} bytes): an old "
                          "or replayed report",
                          to_hex(r.report_data), to_hex(*e.nonce), kReportDataSize));
}

std::string hex_list(const std::vector<Bytes>& values) {
  std::string out;
  for (const Bytes& v : values) out += (out.empty() ? "" : ", ") + to_hex(v);
  return out;
}

CheckResult check_measurement(const Report& r, const Expectations& e) {
  const bool listed = e.policy && !e.policy->launch_digests.empty();
  if (!e.launch_digest && !listed) {
    return unchecked(e, CheckId::measurement,
                     "no expected measurement given (--expect-measurement or the policy's "
                     "launch_digests): any firmware would pass");
  }
  if (e.launch_digest && *e.launch_digest != r.launch_digest) {
    return fail(CheckId::measurement,
                fmt::format("launch digest {} is not the expected {}: different firmware, page "
                            "order or suite was launched",
                            to_hex(r.launch_digest), to_hex(*e.launch_digest)));
  }
  if (listed && std::find(e.policy->launch_digests.begin(), e.policy->launch_digests.end(),
                          r.launch_digest) == e.policy->launch_digests.end()) {
    return fail(CheckId::measurement,
                fmt::format("launch digest {} is not one of the policy's launch_digests ({})",
                            to_hex(r.launch_digest), hex_list(e.policy->launch_digests)));
  }
  return pass(CheckId::measurement, fmt::format("launch digest {}", to_hex(r.launch_digest)));
}

CheckResult check_provider(const Report& r, const Expectations& e) {
  const bool listed = e.policy && !e.policy->provider_key_ids.empty();
  if (!e.provider && !listed) {
    return unchecked(e, CheckId::provider,
                     "no expected provider given (--expect-provider or the policy's "
                     "providers): a reference signed by anyone would pass");
  }
  if (all_zero(r.provider_key_id)) {
    return fail(CheckId::provider,
                "the report names no provider: the launch was not checked against a signed "
                "reference");
  }
  if (listed && std::find(e.policy->provider_key_ids.begin(), e.policy->provider_key_ids.end(),
                          r.provider_key_id) == e.policy->provider_key_ids.end()) {
    return fail(CheckId::provider,
                fmt::format("provider key id {} is not one of the policy's providers ({})",
                            to_hex(r.provider_key_id), hex_list(e.policy->provider_key_ids)));
  }
  if (!e.provider) {
    return pass(CheckId::provider, fmt::format("provider key id {} (listed in the policy)",
                                               to_hex(r.provider_key_id)));
  }
  const Bytes expected = measure::provider_key_id(*e.provider);
  if (expected == r.provider_key_id) {
    return pass(CheckId::provider, fmt::format("provider key id {}", to_hex(expected)));
  }
  if (e.provider->suite() != r.suite) {
    return fail(CheckId::provider,
                fmt::format("the expected provider key is of suite {}, the report of suite {}",
                            crypto::to_string(e.provider->suite()), crypto::to_string(r.suite)));
  }
  return fail(CheckId::provider,
              fmt::format("provider key id {} is not the expected provider's {}: the reference "
                          "was signed by another provider",
                          to_hex(r.provider_key_id), to_hex(expected)));
}

CheckResult check_firmware(const Report& r) {
  switch (r.firmware_check) {
    case FirmwareCheck::matched:
      return pass(CheckId::firmware,
                  "matched: the PSP checked the launch against the signed "
                  "reference");
    case FirmwareCheck::mismatch:
      return fail(CheckId::firmware,
                  "mismatch: the launched firmware differs from the signed reference");
    case FirmwareCheck::not_checked:
      break;
  }
  return fail(CheckId::firmware,
              "not_checked: the VM was launched without a signed reference (must be matched)");
}

CheckResult check_certificate(const Report& r) {
  switch (r.certificate_check) {
    case CertificateCheck::valid:
      return pass(CheckId::certificate,
                  fmt::format("valid: image certificate {}", to_hex(r.certificate_digest)));
    case CertificateCheck::refused:
      return fail(CheckId::certificate,
                  fmt::format("refused: the PSP rejected image certificate {}",
                              to_hex(r.certificate_digest)));
    case CertificateCheck::none:
      break;
  }
  return skip(CheckId::certificate, "none: the VM submitted no image certificate");
}

bool authenticated(const Report& r) {
  return r.disk_integrity == DiskIntegrity::authenticated;
}

// What the report says of its disk, for the details.
std::string disk_text(const Report& r) {
  if (!authenticated(r)) return "no authenticated disk image (disk integrity none)";
  return fmt::format("authenticated disk image, root {} version {}", to_hex(r.disk_root),
                     r.disk_version);
}

// Opt-in: without an expected root the check SKIPs (the report may still carry one).
CheckResult check_disk_root(const Report& r, const Expectations& e) {
  const std::optional<Bytes> listed = e.policy ? e.policy->disk_root : std::nullopt;
  if (!e.disk_root && !listed) {
    return skip(CheckId::disk_root, disk_text(r) +
                                        "; no expected disk root given (--expect-disk-root or the "
                                        "policy's disk_root)");
  }
  if (!authenticated(r)) {
    return fail(CheckId::disk_root,
                fmt::format("the report carries no authenticated disk image (disk integrity "
                            "none), but disk root {} is expected: the VM runs from an image "
                            "without sector tags, or from none",
                            to_hex(e.disk_root ? *e.disk_root : *listed)));
  }
  if (e.disk_root && *e.disk_root != r.disk_root) {
    return fail(CheckId::disk_root,
                fmt::format("disk root {} is not the expected {}: another image, or another "
                            "state of it",
                            to_hex(r.disk_root), to_hex(*e.disk_root)));
  }
  if (listed && *listed != r.disk_root) {
    return fail(CheckId::disk_root, fmt::format("disk root {} is not the policy's disk_root {}",
                                                to_hex(r.disk_root), to_hex(*listed)));
  }
  return pass(CheckId::disk_root, fmt::format("disk root {} (authenticated image, version {})",
                                              to_hex(r.disk_root), r.disk_version));
}

// Opt-in as well: a minimum version refuses a rolled-back image.
CheckResult check_disk_version(const Report& r, const Expectations& e) {
  const std::optional<std::uint64_t> listed = e.policy ? e.policy->min_disk_version : std::nullopt;
  if (!e.min_disk_version && !listed) {
    return skip(CheckId::disk_version,
                disk_text(r) +
                    "; no minimum disk version given (--min-disk-version or the "
                    "policy's min_disk_version)");
  }
  const std::uint64_t minimum = std::max(e.min_disk_version.value_or(0), listed.value_or(0));
  if (!authenticated(r)) {
    return fail(CheckId::disk_version,
                fmt::format("the report carries no authenticated disk image (disk integrity "
                            "none), but disk version {} or later is expected",
                            minimum));
  }
  if (e.min_disk_version && r.disk_version < *e.min_disk_version) {
    return fail(CheckId::disk_version,
                fmt::format("disk version {} is below the minimum {} (--min-disk-version): a "
                            "rolled-back image",
                            r.disk_version, *e.min_disk_version));
  }
  if (listed && r.disk_version < *listed) {
    return fail(CheckId::disk_version,
                fmt::format("disk version {} is below the policy's min_disk_version {}: a "
                            "rolled-back image",
                            r.disk_version, *listed));
  }
  return pass(CheckId::disk_version, fmt::format("disk version {} (at least {}), root {}",
                                                 r.disk_version, minimum, to_hex(r.disk_root)));
}

CheckResult check_npt(const Report& r) {
  const bool guarded = r.guard_mode != 0;
  const bool says_guarded = r.npt_integrity != NptIntegrityState::not_guarded;
  if (guarded != says_guarded) {
    return fail(CheckId::npt_integrity,
                fmt::format("NPT guard mode {} contradicts integrity state {}",
                            guard_mode_name(r.guard_mode), to_string(r.npt_integrity)));
  }
  switch (r.npt_integrity) {
    case NptIntegrityState::intact:
      return pass(CheckId::npt_integrity,
                  fmt::format("intact (guard mode {})", guard_mode_name(r.guard_mode)));
    case NptIntegrityState::tampered:
      return fail(CheckId::npt_integrity,
                  "tampered: the PSP found the nested page tables modified behind its back");
    case NptIntegrityState::not_guarded:
      break;
  }
  return skip(CheckId::npt_integrity,
              "not_guarded: guard mode off, the hypervisor may edit the nested page tables");
}

// The platform rules of the appraisal policy, all of them, every violation named.
CheckResult check_appraisal(const Report& r, const Expectations& e) {
  if (!e.policy) return skip(CheckId::appraisal, "no appraisal policy given (--policy)");
  const AppraisalPolicy& p = *e.policy;
  std::vector<std::string> violations;
  if (!p.chip_ids.empty() &&
      std::find(p.chip_ids.begin(), p.chip_ids.end(), r.chip_id) == p.chip_ids.end()) {
    violations.push_back(fmt::format("chip {} is not in the policy's chips ({})", to_hex(r.chip_id),
                                     hex_list(p.chip_ids)));
  }
  if (p.min_guard_mode && r.guard_mode < static_cast<std::uint8_t>(*p.min_guard_mode)) {
    violations.push_back(fmt::format("NPT guard mode {} is below the policy's min_guard_mode {}",
                                     guard_mode_name(r.guard_mode),
                                     measure::to_string(*p.min_guard_mode)));
  }
  if ((r.policy & p.required_policy_bits) != p.required_policy_bits) {
    const std::uint64_t missing = p.required_policy_bits & ~r.policy;
    const std::string names = measure::protection_names(missing);
    violations.push_back(fmt::format("policy {:#x} lacks the required bits {:#x}{}", r.policy,
                                     missing, names.empty() ? "" : " (" + names + ")"));
  }
  std::optional<measure::Policy> launched;
  try {
    launched = measure::Policy::decode(r.policy, "report policy");
  } catch (const Error&) {
    violations.push_back(fmt::format("policy {:#x} is not a valid policy word", r.policy));
  }
  if (launched && p.memory_encryption_required && !launched->memory_encryption) {
    violations.push_back("memory encryption is off, and the policy requires it");
  }
  if (launched && !p.npt_integrity.empty() && r.guard_mode != 0 &&
      std::find(p.npt_integrity.begin(), p.npt_integrity.end(), launched->npt_integrity) ==
          p.npt_integrity.end()) {
    violations.push_back(fmt::format("NPT integrity {} is not one the policy accepts",
                                     measure::to_string(launched->npt_integrity)));
  }
  if (!violations.empty()) {
    std::string joined;
    for (const auto& v : violations) joined += (joined.empty() ? "" : "; ") + v;
    return fail(CheckId::appraisal, joined);
  }
  return pass(CheckId::appraisal,
              fmt::format("chip, guard mode {}, policy {:#x} meet the appraisal policy",
                          guard_mode_name(r.guard_mode), r.policy));
}

void check_content(const Report& r, const Expectations& e, std::vector<CheckResult>& out) {
  out.push_back(check_nonce(r, e));
  out.push_back(check_measurement(r, e));
  out.push_back(check_provider(r, e));
  out.push_back(check_firmware(r));
  out.push_back(check_certificate(r));
  out.push_back(check_disk_root(r, e));
  out.push_back(check_disk_version(r, e));
  out.push_back(check_npt(r));
  out.push_back(check_appraisal(r, e));
}

}  // namespace

std::optional<std::array<std::uint8_t, kReportDataSize>> report_data_from_nonce(ByteView nonce) {
  if (nonce.size() > kReportDataSize) return std::nullopt;
  std::array<std::uint8_t, kReportDataSize> data{};
  std::copy(nonce.begin(), nonce.end(), data.begin());
  return data;
}

const CheckResult& Verification::check(CheckId id) const {
  const auto it =
      std::find_if(checks.begin(), checks.end(), [id](const CheckResult& c) { return c.id == id; });
  if (it == checks.end()) throw std::logic_error("verification without a result for a check");
  return *it;
}

bool Verification::passed() const {
  return failure() == FailureClass::none;
}

FailureClass Verification::failure() const {
  FailureClass worst = FailureClass::none;
  for (const CheckResult& c : checks) {
    if (c.status == CheckStatus::fail && rank(class_of(c.id)) < rank(worst)) {
      worst = class_of(c.id);
    }
  }
  return worst;
}

Verification verify_report(ByteView report_bytes, std::string_view report_source,
                           ByteView chain_pem_or_der, std::string_view chain_source,
                           const pki::Certificate& trusted_root, const Expectations& expect) {
  Verification v;
  std::vector<CheckResult>& out = v.checks;

  try {
    v.report = Report::decode(report_bytes, report_source);
    out.push_back(pass(CheckId::format,
                       fmt::format("CVMSRPT1 version 3, suite {}, {} bytes",
                                   crypto::to_string(v.report->suite), report_bytes.size())));
  } catch (const Error& e) {
    out.push_back(fail(CheckId::format, fmt::format("not a valid report: {}", e.what())));
  }

  if (v.report) {
    out.push_back(check_simulator(*v.report));
  } else {
    out.push_back(skip(CheckId::simulator, "no decodable report"));
  }

  // The chain is judged on its own: parse, internal consistency, then the trusted root.
  std::optional<pki::ChipIdentity> chip;
  try {
    pki::ChipIdentity parsed = pki::parse_chip_chain(chain_pem_or_der, chain_source);
    v.chain_chip_id = parsed.chip_id;
    parsed.verify(&trusted_root);
    out.push_back(
        pass(CheckId::chain,
             fmt::format("{} -> {} -> {} -> {} leads to the trusted root",
                         parsed.root.common_name(), parsed.signing.common_name(),
                         parsed.endorsement.common_name(), parsed.attestation.common_name())));
    chip = std::move(parsed);
  } catch (const Error& e) {
    out.push_back(
        fail(CheckId::chain,
             fmt::format("{} does not lead to the trusted vendor root '{}' (key SHA-256 {}): {}",
                         chain_source, trusted_root.subject(),
                         to_hex(trusted_root.key_fingerprint()), e.what())));
  }

  if (v.report && chip) {
    out.push_back(check_chip_id(*v.report, *chip));
    out.push_back(check_signature(*v.report, *chip));
  } else {
    const std::string why = !v.report ? "no decodable report" : "no trusted attestation key";
    out.push_back(skip(CheckId::chip_id, why));
    out.push_back(skip(CheckId::signature, why));
  }

  if (v.report) {
    check_content(*v.report, expect, out);
  } else {
    for (CheckId id : {CheckId::nonce, CheckId::measurement, CheckId::provider, CheckId::firmware,
                       CheckId::certificate, CheckId::disk_root, CheckId::disk_version,
                       CheckId::npt_integrity, CheckId::appraisal}) {
      out.push_back(skip(id, "no decodable report"));
    }
  }
  return v;
}

std::string_view to_string(CheckId id) {
  switch (id) {
    case CheckId::format:
      return "format";
    case CheckId::simulator:
      return "simulator";
    case CheckId::chain:
      return "chain";
    case CheckId::chip_id:
      return "chip_id";
    case CheckId::signature:
      return "signature";
    case CheckId::nonce:
      return "nonce";
    case CheckId::measurement:
      return "measurement";
    case CheckId::provider:
      return "provider";
    case CheckId::firmware:
      return "firmware";
    case CheckId::certificate:
      return "certificate";
    case CheckId::disk_root:
      return "disk_root";
    case CheckId::disk_version:
      return "disk_version";
    case CheckId::npt_integrity:
      return "npt_integrity";
    case CheckId::appraisal:
      return "appraisal";
  }
  return "unknown";
}

std::string_view to_string(CheckStatus status) {
  switch (status) {
    case CheckStatus::pass:
      return "PASS";
    case CheckStatus::fail:
      return "FAIL";
    case CheckStatus::skip:
      return "SKIP";
  }
  return "unknown";
}

std::string_view to_string(FailureClass failure) {
  switch (failure) {
    case FailureClass::none:
      return "none";
    case FailureClass::malformed:
      return "malformed";
    case FailureClass::bad_chain:
      return "bad_chain";
    case FailureClass::bad_signature:
      return "bad_signature";
    case FailureClass::expectation:
      return "expectation";
  }
  return "unknown";
}

std::vector<ReportField> describe_report(const Report& r) {
  std::string policy = fmt::format("{:#x}", r.policy);
  try {
    policy += " (" + measure::Policy::decode(r.policy, "report policy").to_string() + ")";
  } catch (const Error&) {
    policy += " (not a valid policy word)";
  }
  // In the format's field order (report.h).
  return {
      {"suite", std::string(crypto::to_string(r.suite))},
      {"simulated", r.simulated ? "yes (cvmsim simulator, not hardware evidence)" : "no"},
      {"psp_version", psp_version_text(r.psp_version)},
      {"chip_id", to_hex(r.chip_id)},
      {"disk_root", disk_root_field(r)},
      {"disk_version", std::to_string(r.disk_version)},
      {"disk_integrity", std::string(to_string(r.disk_integrity))},
      {"policy", policy},
      {"launch_digest", to_hex(r.launch_digest)},
      {"firmware_check", std::string(to_string(r.firmware_check))},
      {"certificate_check", std::string(to_string(r.certificate_check))},
      {"guard_mode", guard_mode_name(r.guard_mode)},
      {"npt_integrity", std::string(to_string(r.npt_integrity))},
      {"asid", std::to_string(r.asid)},
      {"certificate_digest", to_hex(r.certificate_digest)},
      {"provider_key_id", to_hex(r.provider_key_id)},
      {"report_data", to_hex(r.report_data)},
      {"signature", to_hex(r.signature)},
  };
}

nlohmann::ordered_json report_json(const Report& r) {
  nlohmann::ordered_json policy_decoded = nullptr;
  try {
    policy_decoded = measure::Policy::decode(r.policy, "report policy").to_string();
  } catch (const Error&) {
    // not a valid policy word: the number alone, and null here
  }
  return {
      {"magic", "CVMSRPT1"},
      {"version", 3},
      {"suite", crypto::to_string(r.suite)},
      {"simulated", r.simulated},
      {"psp_version", psp_version_text(r.psp_version)},
      {"chip_id", to_hex(r.chip_id)},
      {"disk_root", disk_root_field(r)},
      {"disk_version", r.disk_version},
      {"disk_integrity", to_string(r.disk_integrity)},
      {"policy", r.policy},
      {"policy_decoded", policy_decoded},
      {"launch_digest", to_hex(r.launch_digest)},
      {"firmware_check", to_string(r.firmware_check)},
      {"certificate_check", to_string(r.certificate_check)},
      {"guard_mode", guard_mode_name(r.guard_mode)},
      {"npt_integrity", to_string(r.npt_integrity)},
      {"asid", r.asid},
      {"certificate_digest", to_hex(r.certificate_digest)},
      {"provider_key_id", to_hex(r.provider_key_id)},
      {"report_data", to_hex(r.report_data)},
      {"dram_alias_check", to_string(r.dram_alias_check)},
      {"signature_length", r.signature.size()},
      {"signature", to_hex(r.signature)},
  };
}

}  // namespace cvmsim::attest
