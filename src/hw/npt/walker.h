// The hardware NPT walker: reads tables in host memory (through the memory controller, as
// the unprivileged page walker) and returns a translation or a typed nested page fault.
// It never writes; table editing lives in npt/editor.h.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "hw/memory_controller.h"
#include "hw/npt/format.h"

namespace cvmsim::hw::npt {

enum class Access : std::uint8_t { read, write, execute };
std::string_view to_string(Access access);

struct Translation {
  std::uint64_t hpa = 0;  // of the byte, not just the frame
  bool writable = false;
  bool executable = false;
  bool shared = false;
};

enum class FaultKind : std::uint8_t { not_present, permission, reserved_bits, bad_address };
std::string_view to_string(FaultKind kind);

// A nested page fault: what the VMM (or the PSP) learns about a failed translation.
struct Fault {
  std::uint64_t gpa = 0;
  Access access = Access::read;
  FaultKind kind = FaultKind::not_present;
  int level = 0;  // the table level where the walk stopped (3 = root)
};

struct WalkResult {
  std::optional<Translation> translation;
  Fault fault;
  [[nodiscard]] bool ok() const { return translation.has_value(); }
};

// Walks the tables in memory (no TLB): what the hardware sees right now.
WalkResult walk(MemoryController& mc, std::uint64_t root_hpa, std::uint64_t gpa, Access access);

// Visits every table page reachable from `root_hpa` (the root first, then depth-first in
// entry order) with its level: the set over which the PSP computes the NPT digest. Entries
// with reserved bits or pointing outside memory are not followed.
void for_each_table_page(MemoryController& mc, std::uint64_t root_hpa,
                         const std::function<void(std::uint64_t table_hpa, int level)>& visit);

// The leaf table covering `gpa` (its 512 entries, read in one go) and the permissions the
// upper levels grant, or nullopt when the walk stops above level 0. The guest CPU uses it
// to find runs of neighbouring pages it can map as one region.
struct LeafTable {
  std::uint64_t table_hpa = 0;
  bool writable = false;    // AND of the upper levels
  bool executable = false;  // AND of the upper levels
  std::array<std::uint64_t, kEntriesPerTable> entries{};
};
std::optional<LeafTable> read_leaf_table(MemoryController& mc, std::uint64_t root_hpa,
                                         std::uint64_t gpa);

// The last step of walk() over a leaf table read before: the same translation or fault
// (level 0) that walking `gpa` would give now, as long as the tables have not changed.
// `gpa` must lie in the 2 MiB the table maps. Callers that translate many pages of one
// table (the PSP validating a DMA buffer) read the table once instead of walking each page.
WalkResult walk_leaf(const LeafTable& leaf, std::uint64_t memory_size, std::uint64_t gpa,
                     Access access);

// One 8-byte entry as stored (little-endian), read as the page walker.
std::uint64_t read_entry(MemoryController& mc, std::uint64_t entry_hpa);

}  // namespace cvmsim::hw::npt
