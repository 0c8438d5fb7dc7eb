// The tenant's appraisal policy: which reports it accepts beyond "authentic and fresh"
// (docs/formats.md "Appraisal policy"). A JSON file read once by `cvmsim verify --policy`;
// every key is optional, an absent key accepts anything, and an unknown key is refused so
// that a misspelt rule never silently accepts everything.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "measure/policy.h"

namespace cvmsim::attest {

struct AppraisalPolicy {
  std::vector<Bytes> launch_digests;    // accepted launch digests (32 or 48 bytes)
  std::vector<Bytes> provider_key_ids;  // accepted provider key ids (from hex or a PEM)
  std::vector<Bytes> chip_ids;          // accepted chips (16 bytes each)
  std::optional<measure::GuardMode> min_guard_mode;
  std::vector<measure::NptIntegrity> npt_integrity;  // accepted characteristic values
  std::uint64_t required_policy_bits = 0;
  bool memory_encryption_required = false;
  // The authenticated disk image: its expected root (kDiskRootSize bytes) and the least
  // version accepted. Either one requires an authenticated image.
  std::optional<Bytes> disk_root;
  std::optional<std::uint64_t> min_disk_version;
};

// Parses the JSON text of a policy file; `source` names it in errors, and provider
// certificate paths are resolved against `base_dir`. Throws AttestError{bad_policy}
// naming the key and what was wrong.
AppraisalPolicy parse_appraisal_policy(std::string_view json_text, std::string_view source,
                                       const std::filesystem::path& base_dir);

// Reads and parses a policy file (at most 1 MiB).
AppraisalPolicy load_appraisal_policy(const std::filesystem::path& file);

}  // namespace cvmsim::attest
