// The tenant's side of attestation: checks a report against a chip's certificate chain, a
// trusted vendor root and the tenant's expectations, one result per check
// (docs/formats.md "Verifying a report", docs/cli.md "cvmsim verify").
//
// The verifier never throws for bad evidence: a malformed report, a chain that does not
// lead to the root or a wrong signature become FAIL results, so a caller can show every
// check. Checks that cannot run (no decodable report, no trusted attestation key) are
// SKIP with the reason.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal_policy.h"
#include "attest/report.h"
#include "common/bytes.h"
#include "crypto/key.h"
#include "pki/certificate.h"

namespace cvmsim::attest {

enum class CheckId {
  format,         // the bytes decode as a CVMSRPT1 report
  simulator,      // the simulator marker is set (cvmsim evidence is never hardware evidence)
  chain,          // the chip chain leads to the trusted vendor root
  chip_id,        // the report names the chain's chip
  signature,      // the chain's attestation key signed the report
  nonce,          // report_data is the tenant's nonce
  measurement,    // the launch digest is the expected one
  provider,       // the verified reference came from the expected provider
  firmware,       // the PSP matched the launch against a signed reference
  certificate,    // the image certificate the VM submitted was valid
  disk_root,      // the authenticated disk image has the expected root (when one is given)
  disk_version,   // the authenticated disk image is at least the minimum version (when given)
  npt_integrity,  // the guarded NPT was never found tampered with
  appraisal,      // the platform meets the tenant's appraisal policy (--policy)
};

enum class CheckStatus { pass, fail, skip };

// What a failed check means for the caller (the CLI maps these to exit codes).
enum class FailureClass {
  none,           // every check passed or was skipped
  malformed,      // the report is not a decodable report
  bad_chain,      // the chain does not lead to the trusted root
  bad_signature,  // the report was not signed by the chain's chip
  expectation,    // authentic, but its content is not what the tenant accepts
};

struct CheckResult {
  CheckId id = CheckId::format;
  CheckStatus status = CheckStatus::skip;
  std::string detail;  // one line: what was found; on FAIL, the hint
};

struct Expectations {
  // The tenant's nonce, at most kReportDataSize bytes; a shorter one is compared as if
  // zero padded on the right to 64 bytes.
  std::optional<Bytes> nonce;
  std::optional<Bytes> launch_digest;
  std::optional<crypto::Key> provider;  // its key id is measure::provider_key_id(key)
  // The authenticated disk image the tenant expects: its root (kDiskRootSize bytes) and a
  // minimum version (rollback). Either one, when given, requires an authenticated image;
  // neither is required by default (their checks then SKIP).
  std::optional<Bytes> disk_root;
  std::optional<std::uint64_t> min_disk_version;
  // Launch digests and providers listed here are accepted too (both lists must hold when
  // an expectation above is also given), and so for its disk root and minimum disk
  // version; its platform rules make the `appraisal` check.
  std::optional<AppraisalPolicy> policy;
  // A report checked without a nonce, an expected measurement or an expected provider
  // proves nothing to the tenant (it may be replayed, or describe other firmware), so a
  // missing one FAILS its check by default; true turns those FAILs into SKIPs.
  bool allow_unchecked = false;
};

struct Verification {
  std::optional<Report> report;  // set when the bytes decoded
  std::optional<Bytes> chain_chip_id;
  std::vector<CheckResult> checks;  // one per CheckId, in CheckId order

  [[nodiscard]] const CheckResult& check(CheckId id) const;
  [[nodiscard]] bool passed() const;  // no check failed
  // The most fundamental failure: malformed > bad_chain > bad_signature > expectation.
  [[nodiscard]] FailureClass failure() const;
};

// `chain_pem_or_der` is the file `cvmsim chip export` writes (root first, five
// certificates); `trusted_root` is the vendor root the tenant trusts. The source names
// appear in the details.
Verification verify_report(ByteView report_bytes, std::string_view report_source,
                           ByteView chain_pem_or_der, std::string_view chain_source,
                           const pki::Certificate& trusted_root, const Expectations& expect);

// Pads a nonce of at most kReportDataSize bytes to a report_data field; nullopt if longer.
std::optional<std::array<std::uint8_t, kReportDataSize>> report_data_from_nonce(ByteView nonce);

std::string_view to_string(CheckId id);
std::string_view to_string(CheckStatus status);  // "PASS", "FAIL", "SKIP"
std::string_view to_string(FailureClass failure);

// The report's fields as (name, value) pairs for display; binary fields as hex strings.
struct ReportField {
  std::string name;
  std::string value;
};
std::vector<ReportField> describe_report(const Report& report);

// The report as typed JSON in the format's field order (docs/formats.md "Attestation
// report"): numbers as numbers, flags as booleans, enums by name, binary fields as hex.
nlohmann::ordered_json report_json(const Report& report);

}  // namespace cvmsim::attest
