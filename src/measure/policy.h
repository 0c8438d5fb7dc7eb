// The guest policy: what the tenant/provider demands of the platform for this VM. It is
// part of the signed reference and of the attestation report, and the PSP enforces it.
// Bit layout in docs/formats.md ("Policy").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cvmsim::measure {

// How nested page tables are protected (docs/architecture.md, "PSP firmware").
enum class GuardMode : std::uint8_t {
  off = 0,      // SEV-class baseline: the VMM writes NPT entries, the PSP is not asked
  detect = 1,   // the PSP installs every mapping after checking the table's digest
  isolate = 2,  // as detect, and NPT frames are PSP-owned: host writes are blocked
};

// How the NPT's characteristic value is computed.
enum class NptIntegrity : std::uint8_t {
  full = 0,    // hash of the whole table, recomputed on every check (literal algorithm)
  merkle = 1,  // Merkle tree over table pages: O(log n) per update, root in PSP memory
};

struct Policy {
  bool debug = false;                                 // bit 0: allow debug access to guest memory
  bool memory_encryption = true;                      // bit 1: guest memory is encrypted with a VEK
  GuardMode guard = GuardMode::detect;                // bits 8-9
  NptIntegrity npt_integrity = NptIntegrity::merkle;  // bit 10

  [[nodiscard]] std::uint64_t encode() const;
  // Refuses unknown bits and values, naming `where`.
  static Policy decode(std::uint64_t bits, std::string_view where);

  // "guard=detect,integrity=merkle,memory-encryption=on,debug=off"; missing keys keep their
  // defaults. Throws MeasureError{bad_policy} naming the bad word.
  static Policy parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;

  bool operator==(const Policy&) const = default;
};

std::string_view to_string(GuardMode mode);
std::string_view to_string(NptIntegrity integrity);

}  // namespace cvmsim::measure
