// Nested page tables: 4-level radix tables of 4 KiB pages, 512 8-byte entries per table,
// stored in host frames (bit layout in docs/formats.md, "Nested page table entries").
//
//   bit 0  present         bit 3  shared (guest accesses use no key: plaintext shared
//   bit 1  writable                with the host); leaf entries only
//   bit 2  executable      bits 12..51  host frame number; all other bits reserved (0)
//
// Permissions are the AND of all levels, as on x86. GPAs are 48 bits.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "hw/memory_controller.h"

namespace cvmsim::hw::npt {

inline constexpr std::uint64_t kPresent = 1ull << 0;
inline constexpr std::uint64_t kWritable = 1ull << 1;
inline constexpr std::uint64_t kExecutable = 1ull << 2;
inline constexpr std::uint64_t kShared = 1ull << 3;
inline constexpr std::uint64_t kFrameMask = 0x000f'ffff'ffff'f000ull;
inline constexpr std::uint64_t kFlagMask = kPresent | kWritable | kExecutable | kShared;
inline constexpr std::uint64_t kReservedMask = ~(kFrameMask | kFlagMask);
inline constexpr int kLevels = 4;
inline constexpr std::uint64_t kGpaLimit = 1ull << 48;
inline constexpr std::size_t kEntriesPerTable = 512;

// Index into the table at `level` (3 = root, 0 = leaf table).
constexpr std::size_t index_at(std::uint64_t gpa, int level) {
  return static_cast<std::size_t>((gpa >> (12 + 9 * level)) & 0x1ff);
}

constexpr std::uint64_t make_entry(std::uint64_t hpa, std::uint64_t flags) {
  return (hpa & kFrameMask) | (flags & kFlagMask);
}

enum class Access : std::uint8_t { read, write, execute };
std::string_view to_string(Access access);

struct Translation {
  std::uint64_t hpa = 0;  // of the byte, not just the frame
  bool writable = false;
  bool executable = false;
  bool shared = false;
};

enum class FaultKind : std::uint8_t { not_present, permission, reserved_bits, bad_address };

// A nested page fault: what the VMM (or the PSP) learns about a failed translation.
struct Fault {
  std::uint64_t gpa = 0;
  Access access = Access::read;
  FaultKind kind = FaultKind::not_present;
  int level = 0;  // the table level where the walk stopped
};

struct WalkResult {
  std::optional<Translation> translation;
  Fault fault;
  [[nodiscard]] bool ok() const { return translation.has_value(); }
};

// Walks the tables in memory (no TLB): what the hardware sees right now.
WalkResult walk(MemoryController& mc, std::uint64_t root_hpa, std::uint64_t gpa, Access access);

// A per-ASID TLB over walk(): translations stay cached, stale, until flushed, as on
// hardware; the guest CPU's mapped regions play the same role for instruction accesses.
class Tlb {
 public:
  WalkResult translate(MemoryController& mc, std::uint32_t asid, std::uint64_t root_hpa,
                       std::uint64_t gpa, Access access);
  void flush(std::uint32_t asid);
  void flush_all() { entries_.clear(); }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  struct Key {
    std::uint32_t asid;
    std::uint64_t gpa_page;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<std::uint64_t>{}(k.gpa_page * 31 + k.asid);
    }
  };
  std::unordered_map<Key, Translation, KeyHash> entries_;
};

// Edits tables through the memory controller as `who` (the PSP in guarded modes, the VMM
// in `off` mode). New table pages come from `allocate_table`, which returns a zeroed frame.
class Editor {
 public:
  using TableAllocator = std::function<std::uint64_t()>;
  Editor(MemoryController& mc, Requester who) : mc_(mc), who_(who) {}

  // The host address of the leaf entry for `gpa`, allocating missing tables when
  // `allocate` is set (else nullopt when a table is missing).
  std::optional<std::uint64_t> leaf_entry_address(std::uint64_t root_hpa, std::uint64_t gpa,
                                                  const TableAllocator* allocate);
  [[nodiscard]] std::uint64_t read_entry(std::uint64_t entry_hpa);
  void write_entry(std::uint64_t entry_hpa, std::uint64_t entry);

 private:
  MemoryController& mc_;
  Requester who_;
};

}  // namespace cvmsim::hw::npt
