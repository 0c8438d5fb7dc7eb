#include "hw/npt/walker.h"

#include <array>
#include <bit>
#include <cstring>

#include "hw/hw_error.h"

namespace cvmsim::hw::npt {

std::string_view to_string(Access access) {
  switch (access) {
    case Access::read:
      return "read";
    case Access::write:
      return "write";
    case Access::execute:
      return "execute";
  }
  return "?";
}

std::string_view to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::not_present:
      return "not_present";
    case FaultKind::permission:
      return "permission";
    case FaultKind::reserved_bits:
      return "reserved_bits";
    case FaultKind::bad_address:
      return "bad_address";
  }
  return "?";
}

std::uint64_t read_entry(MemoryController& mc, std::uint64_t entry_hpa) {
  std::array<std::uint8_t, kEntrySize> raw{};
  mc.read(entry_hpa, raw, Requester::walker());
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < kEntrySize; ++i) v |= std::uint64_t{raw[i]} << (8 * i);
  return v;
}

namespace {

// The level-0 step of a walk: `entry` is the leaf entry for result.fault.gpa, present and
// free of reserved bits; `writable` and `executable` are what the upper levels grant.
void translate_leaf(std::uint64_t entry, bool writable, bool executable, std::uint64_t memory_size,
                    WalkResult& result) {
  writable = writable && (entry & kWritable) != 0;
  executable = executable && (entry & kExecutable) != 0;
  const Access access = result.fault.access;
  const bool denied =
      (access == Access::write && !writable) || (access == Access::execute && !executable);
  if (denied) {
    result.fault.kind = FaultKind::permission;
    return;
  }
  const std::uint64_t frame = entry & kFrameMask;
  if (frame >= memory_size) {
    result.fault.kind = FaultKind::bad_address;  // a page outside host memory
    return;
  }
  result.translation =
      Translation{frame | (result.fault.gpa & 0xfff), writable, executable, (entry & kShared) != 0};
}

}  // namespace

WalkResult walk(MemoryController& mc, std::uint64_t root_hpa, std::uint64_t gpa, Access access) {
  WalkResult result;
  result.fault = {gpa, access, FaultKind::not_present, kLevels - 1};
  if (gpa >= kGpaLimit) {
    result.fault.kind = FaultKind::bad_address;
    return result;
  }
  std::uint64_t table = root_hpa;
  bool writable = true;
  bool executable = true;
  for (int level = kLevels - 1; level >= 0; --level) {
    result.fault.level = level;
    std::uint64_t entry = 0;
    try {
      entry = read_entry(mc, table + kEntrySize * index_at(gpa, level));
    } catch (const HwError&) {
      result.fault.kind = FaultKind::bad_address;  // a table pointer outside memory
      return result;
    }
    if ((entry & kPresent) == 0) return result;
    if ((entry & kReservedMask) != 0 || (level > 0 && (entry & kShared) != 0)) {
      result.fault.kind = FaultKind::reserved_bits;
      return result;
    }
    if (level == 0) {
      translate_leaf(entry, writable, executable, mc.memory().size(), result);
      return result;
    }
    writable = writable && (entry & kWritable) != 0;
    executable = executable && (entry & kExecutable) != 0;
    table = entry & kFrameMask;
  }
  return result;
}

std::optional<LeafTable> read_leaf_table(MemoryController& mc, std::uint64_t root_hpa,
                                         std::uint64_t gpa) {
  if (gpa >= kGpaLimit) return std::nullopt;
  LeafTable leaf;
  leaf.writable = true;
  leaf.executable = true;
  std::uint64_t table = root_hpa;
  try {
    for (int level = kLevels - 1; level > 0; --level) {
      const std::uint64_t entry = read_entry(mc, table + kEntrySize * index_at(gpa, level));
      if ((entry & kPresent) == 0 || (entry & (kReservedMask | kShared)) != 0) return std::nullopt;
      leaf.writable = leaf.writable && (entry & kWritable) != 0;
      leaf.executable = leaf.executable && (entry & kExecutable) != 0;
      table = entry & kFrameMask;
    }
    // Entries are stored little-endian, as this host keeps integers: one copy decodes the
    // table (decoding it byte by byte cost 3.6 us per TLB fill, docs/benchmarks.md).
    static_assert(std::endian::native == std::endian::little);
    static_assert(sizeof(leaf.entries) == kFrameSize);
    std::array<std::uint8_t, kFrameSize> raw;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    mc.read(table, raw, Requester::walker());
    std::memcpy(leaf.entries.data(), raw.data(), raw.size());
  } catch (const HwError&) {
    return std::nullopt;
  }
  leaf.table_hpa = table;
  return leaf;
}

WalkResult walk_leaf(const LeafTable& leaf, std::uint64_t memory_size, std::uint64_t gpa,
                     Access access) {
  WalkResult result;
  result.fault = {gpa, access, FaultKind::not_present, 0};
  const std::uint64_t entry = leaf.entries[index_at(gpa, 0)];
  if ((entry & kPresent) == 0) return result;
  if ((entry & kReservedMask) != 0) {
    result.fault.kind = FaultKind::reserved_bits;
    return result;
  }
  translate_leaf(entry, leaf.writable, leaf.executable, memory_size, result);
  return result;
}

namespace {

void visit_table(MemoryController& mc, std::uint64_t table, int level,
                 const std::function<void(std::uint64_t, int)>& visit) {
  visit(table, level);
  if (level == 0) return;
  for (std::size_t i = 0; i < kEntriesPerTable; ++i) {
    std::uint64_t entry = 0;
    try {
      entry = read_entry(mc, table + kEntrySize * i);
    } catch (const HwError&) {
      return;
    }
    if ((entry & kPresent) == 0 || (entry & kReservedMask) != 0 || (entry & kShared) != 0) {
      continue;
    }
    visit_table(mc, entry & kFrameMask, level - 1, visit);
  }
}

}  // namespace

void for_each_table_page(MemoryController& mc, std::uint64_t root_hpa,
                         const std::function<void(std::uint64_t, int)>& visit) {
  visit_table(mc, root_hpa, kLevels - 1, visit);
}

}  // namespace cvmsim::hw::npt
