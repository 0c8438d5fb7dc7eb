#include "attest/ear.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "common/hex.h"
#include "measure/policy.h"

namespace cvmsim::attest {
namespace {

// AR4SI values (draft-ietf-rats-ar4si §2.3): 0 no claim, 2..31 affirming, 32..95 warning,
// 96..127 contraindicated. The named values used here:
constexpr int kNoClaim = 0;
constexpr int kAffirming = 2;             // recognized instance, approved config, genuine...
constexpr int kApprovedBoot = 3;          // executables: approved boot-time executables
constexpr int kUnsafeHardware = 32;       // hardware: a known, but not genuine, platform
constexpr int kUnrecognizedRuntime = 33;  // executables: not the expected executables
constexpr int kUnrecognizedFiles = 32;    // file-system: not the expected files
constexpr int kContraindicated = 96;      // untrustworthy instance, visible memory, ...
constexpr int kUnrecognizedInstance = 97;

EarTier tier_of(int value) {
  if (value >= 96) return EarTier::contraindicated;
  if (value >= 32) return EarTier::warning;
  if (value >= 2) return EarTier::affirming;
  return EarTier::none;
}

CheckStatus status(const Verification& v, CheckId id) {
  return v.check(id).status;
}

int instance_identity(const Verification& v) {
  if (status(v, CheckId::chain) == CheckStatus::fail) return kUnrecognizedInstance;
  if (status(v, CheckId::chip_id) == CheckStatus::fail ||
      status(v, CheckId::signature) == CheckStatus::fail) {
    return kContraindicated;
  }
  return status(v, CheckId::signature) == CheckStatus::pass ? kAffirming : kNoClaim;
}

int executables(const Verification& v) {
  const CheckStatus measurement = status(v, CheckId::measurement);
  const CheckStatus firmware = status(v, CheckId::firmware);
  if (measurement == CheckStatus::fail || firmware == CheckStatus::fail) {
    return kUnrecognizedRuntime;
  }
  return measurement == CheckStatus::pass ? kApprovedBoot : kNoClaim;
}

int configuration(const Verification& v) {
  if (status(v, CheckId::appraisal) == CheckStatus::fail ||
      status(v, CheckId::npt_integrity) == CheckStatus::fail ||
      status(v, CheckId::provider) == CheckStatus::fail) {
    return kContraindicated;
  }
  return status(v, CheckId::appraisal) == CheckStatus::pass ? kAffirming : kNoClaim;
}

// Every cvmsim report comes from a simulator: a known platform, never genuine hardware.
int hardware(const Verification& v) {
  if (status(v, CheckId::simulator) == CheckStatus::fail) return kContraindicated;
  return v.report ? kUnsafeHardware : kNoClaim;
}

int runtime_opaque(const Verification& v) {
  if (!v.report) return kNoClaim;
  try {
    const auto policy = measure::Policy::decode(v.report->policy, "report policy");
    return policy.memory_encryption ? kAffirming : kContraindicated;
  } catch (const Error&) {
    return kNoClaim;  // not a policy word: the appraisal check says so
  }
}

// The authenticated disk image against the tenant's expected root and minimum version:
// approved when they were checked and hold; unrecognized when the report has no
// authenticated image or another root; contraindicated for a rolled-back version.
int file_system(const Verification& v) {
  const CheckStatus root = status(v, CheckId::disk_root);
  const CheckStatus version = status(v, CheckId::disk_version);
  const bool has_image = v.report && v.report->disk_integrity == DiskIntegrity::authenticated;
  if (version == CheckStatus::fail && has_image) return kContraindicated;
  if (root == CheckStatus::fail || version == CheckStatus::fail) return kUnrecognizedFiles;
  return root == CheckStatus::pass || version == CheckStatus::pass ? kAffirming : kNoClaim;
}

int storage_opaque(const Verification& v) {
  switch (status(v, CheckId::certificate)) {
    case CheckStatus::pass:
      return kAffirming;  // the image key is held by the PSP, never by the host
    case CheckStatus::fail:
      return kContraindicated;
    case CheckStatus::skip:
      break;
  }
  return kNoClaim;
}

}  // namespace

std::string_view to_string(EarTier tier) {
  switch (tier) {
    case EarTier::none:
      return "none";
    case EarTier::affirming:
      return "affirming";
    case EarTier::warning:
      return "warning";
    case EarTier::contraindicated:
      return "contraindicated";
  }
  return "none";
}

nlohmann::json ear_claims(const Verification& v, std::string_view verifier_build,
                          std::int64_t issued_at, std::string_view policy_id) {
  const nlohmann::json vector = {
      {"instance-identity", instance_identity(v)},
      {"configuration", configuration(v)},
      {"executables", executables(v)},
      {"file-system", file_system(v)},
      {"hardware", hardware(v)},
      {"runtime-opaque", runtime_opaque(v)},
      {"storage-opaque", storage_opaque(v)},
  };
  EarTier worst = EarTier::none;
  for (const auto& [claim, value] : vector.items()) {
    worst = std::max(worst, tier_of(value.get<int>()));
  }
  // A failed freshness or provider check has no claim of its own in AR4SI, but the
  // native result refuses the report, so the EAR must not read better than that.
  if (!v.passed()) worst = EarTier::contraindicated;
  nlohmann::json submod = {{"ear.status", to_string(worst)},
                           {"ear.trustworthiness-vector", vector},
                           {"ear.appraisal-policy-id", policy_id}};
  nlohmann::json claims = {
      {"eat_profile", "tag:github.com,2023:veraison/ear"},
      {"iat", issued_at},
      {"ear.verifier-id", {{"developer", "cvmsim"}, {"build", verifier_build}}},
      {"submods", {{"cvmsim-cvm", submod}}},
  };
  // The nonce is only worth echoing when the report is authentic and carries it.
  if (v.report && status(v, CheckId::signature) == CheckStatus::pass &&
      status(v, CheckId::nonce) == CheckStatus::pass) {
    claims["eat_nonce"] = to_hex(v.report->report_data);
  }
  return claims;
}

}  // namespace cvmsim::attest
