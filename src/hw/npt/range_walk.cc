#include "hw/npt/range_walk.h"

#include <algorithm>

#include "hw/npt/editor.h"
#include "hw/npt/format.h"

namespace cvmsim::hw::npt {
namespace {

void visit_range(MemoryController& mc, Requester who, std::uint64_t table, int level,
                 std::uint64_t lo, std::uint64_t hi,
                 const std::function<void(std::uint64_t)>& visit) {
  const int shift = 12 + 9 * level;  // bytes one entry of this level maps: 2^shift
  const std::uint64_t table_base = lo & ~((std::uint64_t{1} << (shift + 9)) - 1);
  const std::size_t first = index_at(lo, level);
  const std::size_t last = index_at(hi - 1, level);
  Editor reader(mc, who);
  for (std::size_t i = first; i <= last; ++i) {
    const std::uint64_t entry_hpa = table + kEntrySize * i;
    visit(entry_hpa);
    if (level == 0) continue;
    const std::uint64_t entry = reader.read_entry(entry_hpa);
    if ((entry & kPresent) == 0) continue;
    const std::uint64_t start = table_base + (std::uint64_t{i} << shift);
    const std::uint64_t end = start + (std::uint64_t{1} << shift);
    visit_range(mc, who, entry & kFrameMask, level - 1, std::max(lo, start), std::min(hi, end),
                visit);
  }
}

}  // namespace

std::vector<std::uint64_t> path_tables(MemoryController& mc, Requester who, std::uint64_t root_hpa,
                                       std::uint64_t gpa) {
  std::vector<std::uint64_t> tables{root_hpa};
  std::uint64_t table = root_hpa;
  Editor reader(mc, who);
  for (int level = kLevels - 1; level > 0; --level) {
    const std::uint64_t entry = reader.read_entry(table + kEntrySize * index_at(gpa, level));
    if ((entry & kPresent) == 0) break;
    table = entry & kFrameMask;
    tables.push_back(table);
  }
  return tables;
}

void for_each_entry_read(MemoryController& mc, Requester who, std::uint64_t root_hpa,
                         std::uint64_t lo, std::uint64_t hi,
                         const std::function<void(std::uint64_t entry_hpa)>& visit) {
  visit_range(mc, who, root_hpa, kLevels - 1, lo, hi, visit);
}

}  // namespace cvmsim::hw::npt
