// The verifier's result in a standard shape: the IETF RATS EAT Attestation Result (EAR)
// claims set, draft-ietf-rats-ear, with an AR4SI trustworthiness vector
// (docs/formats.md "EAR claims set"). Unsigned JSON, written beside the native output.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "attest/verifier.h"

namespace cvmsim::attest {

// The AR4SI trustworthiness tiers (draft-ietf-rats-ar4si).
enum class EarTier { none, affirming, warning, contraindicated };

std::string_view to_string(EarTier tier);

// `issued_at` is the EAR's `iat` (seconds since the Unix epoch); `policy_id` names the
// appraisal policy applied. The submodule is "cvmsim-cvm".
nlohmann::json ear_claims(const Verification& v, std::string_view verifier_build,
                          std::int64_t issued_at, std::string_view policy_id);

}  // namespace cvmsim::attest
