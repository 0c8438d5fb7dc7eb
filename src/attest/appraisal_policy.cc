#include "attest/appraisal_policy.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "attest/attest_error.h"
#include "attest/report.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "measure/reference.h"
#include "pki/certificate.h"

namespace cvmsim::attest {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxPolicyFile = 1 << 20;

[[noreturn]] void refuse(std::string_view source, std::string_view key, const std::string& what) {
  throw AttestError(AttestErrc::bad_policy, fmt::format("{}: \"{}\": {}", source, key, what));
}

// The array of strings under `key`, or an empty vector when the key is absent.
std::vector<std::string> strings_at(const json& doc, std::string_view source,
                                    std::string_view key) {
  std::vector<std::string> out;
  const auto it = doc.find(key);
  if (it == doc.end()) return out;
  if (!it->is_array()) refuse(source, key, "must be an array of strings");
  for (std::size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) refuse(source, key, fmt::format("item {} is not a string", i));
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

Bytes hex_item(std::string_view source, std::string_view key, const std::string& text,
               std::set<std::size_t> sizes, std::string_view what) {
  Bytes value;
  try {
    value = from_hex(text, std::string(key));
  } catch (const Error& e) {
    refuse(source, key, e.what());
  }
  if (!sizes.contains(value.size())) {
    refuse(source, key, fmt::format("{} has {} bytes; {}", text, value.size(), what));
  }
  return value;
}

// A provider: its key id as hex (32 or 48 bytes), or the path of its provider.pem or
// public key, relative to the policy file.
Bytes provider_id(std::string_view source, const std::string& text,
                  const std::filesystem::path& base_dir) {
  const bool hex_like = text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (hex_like && (text.size() == 64 || text.size() == 96)) {
    return hex_item(source, "providers", text, {32, 48}, "");
  }
  const std::filesystem::path file = base_dir / text;
  try {
    return measure::provider_key_id(pki::certificate_or_key(read_file(file), file.string()));
  } catch (const Error& e) {
    refuse(source, "providers",
           fmt::format("{} is neither a 32/48-byte hex key id nor a readable provider "
                       "certificate or key: {}",
                       text, e.what()));
  }
}

measure::GuardMode guard_mode(std::string_view source, const json& value) {
  if (value.is_string()) {
    const std::string name = value.get<std::string>();
    for (auto mode :
         {measure::GuardMode::off, measure::GuardMode::detect, measure::GuardMode::isolate}) {
      if (name == measure::to_string(mode)) return mode;
    }
  }
  refuse(source, "min_guard_mode", "must be \"off\", \"detect\" or \"isolate\"");
}

std::uint64_t policy_bits(std::string_view source, const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_array()) {  // names of memory protections
    std::uint64_t bits = 0;
    for (const json& name : value) {
      const auto bit =
          name.is_string() ? measure::protection_bit(name.get<std::string>()) : std::nullopt;
      if (!bit) {
        refuse(source, "required_policy_bits",
               fmt::format("a list names memory protections ({})", measure::kProtectionNames));
      }
      bits |= *bit;
    }
    return bits;
  }
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    try {
      std::size_t used = 0;
      const std::uint64_t bits = std::stoull(text, &used, 0);
      if (used == text.size()) return bits;
    } catch (const std::exception&) {
      // refused below with the documented forms
    }
  }
  refuse(source, "required_policy_bits",
         "must be a non-negative number, a string like \"0x402\" or a list of memory "
         "protections like [\"memory-integrity\"]");
}

}  // namespace

AppraisalPolicy parse_appraisal_policy(std::string_view json_text, std::string_view source,
                                       const std::filesystem::path& base_dir) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw AttestError(AttestErrc::bad_policy,
                      fmt::format("{}: not JSON (byte {}): {}", source, e.byte, e.what()));
  }
  if (!doc.is_object()) {
    throw AttestError(AttestErrc::bad_policy, fmt::format("{}: must be a JSON object", source));
  }
  static const std::set<std::string> known{"launch_digests",
                                           "providers",
                                           "chips",
                                           "min_guard_mode",
                                           "npt_integrity",
                                           "required_policy_bits",
                                           "memory_encryption_required",
                                           "disk_root",
                                           "min_disk_version"};
  for (const auto& [key, value] : doc.items()) {
    if (!known.contains(key)) {
      refuse(source, key,
             "unknown key (known: launch_digests, providers, chips, min_guard_mode, "
             "npt_integrity, required_policy_bits, memory_encryption_required, disk_root, "
             "min_disk_version)");
    }
  }

  AppraisalPolicy p;
  for (const auto& text : strings_at(doc, source, "launch_digests")) {
    p.launch_digests.push_back(hex_item(source, "launch_digests", text, {32, 48},
                                        "a launch digest has 32 (sm) or 48 (nist)"));
  }
  for (const auto& text : strings_at(doc, source, "providers")) {
    p.provider_key_ids.push_back(provider_id(source, text, base_dir));
  }
  for (const auto& text : strings_at(doc, source, "chips")) {
    p.chip_ids.push_back(hex_item(source, "chips", text, {kChipIdSize}, "a chip id has 16 bytes"));
  }
  if (doc.contains("min_guard_mode")) p.min_guard_mode = guard_mode(source, doc["min_guard_mode"]);
  for (const auto& name : strings_at(doc, source, "npt_integrity")) {
    if (name == "full") {
      p.npt_integrity.push_back(measure::NptIntegrity::full);
    } else if (name == "merkle") {
      p.npt_integrity.push_back(measure::NptIntegrity::merkle);
    } else {
      refuse(source, "npt_integrity", fmt::format("\"{}\" is not \"full\" or \"merkle\"", name));
    }
  }
  if (doc.contains("required_policy_bits")) {
    p.required_policy_bits = policy_bits(source, doc["required_policy_bits"]);
  }
  if (doc.contains("memory_encryption_required")) {
    if (!doc["memory_encryption_required"].is_boolean()) {
      refuse(source, "memory_encryption_required", "must be true or false");
    }
    p.memory_encryption_required = doc["memory_encryption_required"].get<bool>();
  }
  if (doc.contains("disk_root")) {
    if (!doc["disk_root"].is_string()) refuse(source, "disk_root", "must be a hex string");
    p.disk_root = hex_item(source, "disk_root", doc["disk_root"].get<std::string>(),
                           {kDiskRootSize}, "a disk root has 32");
  }
  if (doc.contains("min_disk_version")) {
    if (!doc["min_disk_version"].is_number_unsigned()) {
      refuse(source, "min_disk_version", "must be a non-negative integer");
    }
    p.min_disk_version = doc["min_disk_version"].get<std::uint64_t>();
  }
  return p;
}

AppraisalPolicy load_appraisal_policy(const std::filesystem::path& file) {
  const Bytes bytes = read_file(file, kMaxPolicyFile);
  return parse_appraisal_policy(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), file.string(),
      file.parent_path());
}

}  // namespace cvmsim::attest
