#include "measure/policy.h"

#include <fmt/format.h>

#include <vector>

#include "measure/measure_error.h"

namespace cvmsim::measure {
namespace {

constexpr std::uint64_t kDebugBit = 1ull << 0;
constexpr std::uint64_t kMemoryEncryptionBit = 1ull << 1;
constexpr std::uint64_t kMemoryIntegrityBit = 1ull << 2;
constexpr std::uint64_t kCiphertextHidingBit = 1ull << 3;
constexpr unsigned kGuardShift = 8;
constexpr std::uint64_t kGuardMask = 3ull << kGuardShift;
constexpr std::uint64_t kIntegrityBit = 1ull << 10;
constexpr std::uint64_t kKnownBits = kDebugBit | kMemoryEncryptionBit | kMemoryIntegrityBit |
                                     kCiphertextHidingBit | kGuardMask | kIntegrityBit;

void check_protections_need_encryption(const Policy& p, std::string_view where) {
  if ((p.memory_integrity || p.ciphertext_hiding) && !p.memory_encryption) {
    throw MeasureError(MeasureErrc::bad_policy,
                       fmt::format("{}: memory-integrity and ciphertext-hiding need "
                                   "memory-encryption=on (they protect the VM's key slot)",
                                   where));
  }
}

bool parse_switch(std::string_view key, std::string_view value) {
  if (value == "on" || value == "yes" || value == "true") return true;
  if (value == "off" || value == "no" || value == "false") return false;
  throw MeasureError(MeasureErrc::bad_policy,
                     fmt::format("policy: '{}={}': expected on or off", key, value));
}

}  // namespace

std::string_view to_string(GuardMode mode) {
  switch (mode) {
    case GuardMode::off:
      return "off";
    case GuardMode::detect:
      return "detect";
    case GuardMode::isolate:
      return "isolate";
  }
  return "unknown";
}

std::string_view to_string(NptIntegrity integrity) {
  switch (integrity) {
    case NptIntegrity::full:
      return "full";
    case NptIntegrity::merkle:
      return "merkle";
  }
  return "unknown";
}

std::uint64_t Policy::encode() const {
  std::uint64_t bits = 0;
  if (debug) bits |= kDebugBit;
  if (memory_encryption) bits |= kMemoryEncryptionBit;
  if (memory_integrity) bits |= kMemoryIntegrityBit;
  if (ciphertext_hiding) bits |= kCiphertextHidingBit;
  bits |= std::uint64_t{static_cast<std::uint8_t>(guard)} << kGuardShift;
  if (npt_integrity == NptIntegrity::merkle) bits |= kIntegrityBit;
  return bits;
}

Policy Policy::decode(std::uint64_t bits, std::string_view where) {
  if ((bits & ~kKnownBits) != 0) {
    throw MeasureError(
        MeasureErrc::bad_policy,
        fmt::format("{}: policy {:#x} sets unknown bits {:#x}", where, bits, bits & ~kKnownBits));
  }
  const auto guard = static_cast<std::uint8_t>((bits & kGuardMask) >> kGuardShift);
  if (guard > static_cast<std::uint8_t>(GuardMode::isolate)) {
    throw MeasureError(MeasureErrc::bad_policy,
                       fmt::format("{}: policy guard mode {} is not 0, 1 or 2", where, guard));
  }
  Policy p;
  p.debug = (bits & kDebugBit) != 0;
  p.memory_encryption = (bits & kMemoryEncryptionBit) != 0;
  p.memory_integrity = (bits & kMemoryIntegrityBit) != 0;
  p.ciphertext_hiding = (bits & kCiphertextHidingBit) != 0;
  p.guard = static_cast<GuardMode>(guard);
  p.npt_integrity = (bits & kIntegrityBit) != 0 ? NptIntegrity::merkle : NptIntegrity::full;
  check_protections_need_encryption(p, where);
  return p;
}

Policy Policy::parse(std::string_view text) {
  Policy p;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view word = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (word.empty()) continue;
    const auto eq = word.find('=');
    if (eq == std::string_view::npos) {
      throw MeasureError(MeasureErrc::bad_policy,
                         fmt::format("policy: '{}' is not key=value", word));
    }
    const std::string_view key = word.substr(0, eq);
    const std::string_view value = word.substr(eq + 1);
    if (key == "debug") {
      p.debug = parse_switch(key, value);
    } else if (key == "memory-encryption") {
      p.memory_encryption = parse_switch(key, value);
    } else if (key == "memory-integrity") {
      p.memory_integrity = parse_switch(key, value);
    } else if (key == "ciphertext-hiding") {
      p.ciphertext_hiding = parse_switch(key, value);
    } else if (key == "guard") {
      if (value == "off")
        p.guard = GuardMode::off;
      else if (value == "detect")
        p.guard = GuardMode::detect;
      else if (value == "isolate")
        p.guard = GuardMode::isolate;
      else
        throw MeasureError(MeasureErrc::bad_policy,
                           fmt::format("policy: guard={}: expected off, detect or isolate", value));
    } else if (key == "integrity") {
      if (value == "full")
        p.npt_integrity = NptIntegrity::full;
      else if (value == "merkle")
        p.npt_integrity = NptIntegrity::merkle;
      else
        throw MeasureError(MeasureErrc::bad_policy,
                           fmt::format("policy: integrity={}: expected full or merkle", value));
    } else {
      throw MeasureError(MeasureErrc::bad_policy,
                         fmt::format("policy: unknown key '{}' (known: guard, integrity, "
                                     "memory-encryption, debug, memory-integrity, "
                                     "ciphertext-hiding)",
                                     key));
    }
  }
  check_protections_need_encryption(p, "policy");
  return p;
}

std::string Policy::to_string() const {
  std::string text = fmt::format("guard={},integrity={},memory-encryption={},debug={}",
                                 measure::to_string(guard), measure::to_string(npt_integrity),
                                 memory_encryption ? "on" : "off", debug ? "on" : "off");
  if (memory_integrity) text += ",memory-integrity=on";
  if (ciphertext_hiding) text += ",ciphertext-hiding=on";
  return text;
}

std::optional<std::uint64_t> protection_bit(std::string_view name) {
  if (name == "memory-integrity") return kMemoryIntegrityBit;
  if (name == "ciphertext-hiding") return kCiphertextHidingBit;
  return std::nullopt;
}

std::string protection_names(std::uint64_t bits) {
  std::string text;
  if ((bits & kMemoryIntegrityBit) != 0) text = "memory-integrity";
  if ((bits & kCiphertextHidingBit) != 0) {
    text += fmt::format("{}ciphertext-hiding", text.empty() ? "" : ", ");
  }
  return text;
}

}  // namespace cvmsim::measure
