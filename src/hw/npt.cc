#include "hw/npt.h"

#include <array>

#include "hw/hw_error.h"

namespace cvmsim::hw::npt {
namespace {

constexpr Requester kWalker{Initiator::page_walker, 0};

std::uint64_t load_entry(MemoryController& mc, std::uint64_t entry_hpa, Requester who) {
  std::array<std::uint8_t, 8> raw{};
  mc.read(entry_hpa, raw, who);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= std::uint64_t{raw[i]} << (8 * i);
  return v;
}

}  // namespace

std::string_view to_string(Access access) {
  switch (access) {
    case Access::read: return "read";
    case Access::write: return "write";
    case Access::execute: return "execute";
  }
  return "?";
}

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
      entry = load_entry(mc, table + 8 * index_at(gpa, level), kWalker);
    } catch (const HwError&) {
      result.fault.kind = FaultKind::bad_address;  // a table pointer outside memory
      return result;
    }
    if ((entry & kPresent) == 0) return result;
    if ((entry & kReservedMask) != 0 || (level > 0 && (entry & kShared) != 0)) {
      result.fault.kind = FaultKind::reserved_bits;
      return result;
    }
    writable = writable && (entry & kWritable) != 0;
    executable = executable && (entry & kExecutable) != 0;
    if (level == 0) {
      const bool denied = (access == Access::write && !writable) ||
                          (access == Access::execute && !executable);
      if (denied) {
        result.fault.kind = FaultKind::permission;
        return result;
      }
      result.translation = Translation{(entry & kFrameMask) | (gpa & 0xfff), writable,
                                       executable, (entry & kShared) != 0};
      return result;
    }
    table = entry & kFrameMask;
  }
  return result;
}

WalkResult Tlb::translate(MemoryController& mc, std::uint32_t asid, std::uint64_t root_hpa,
                          std::uint64_t gpa, Access access) {
  const Key key{asid, gpa >> 12};
  if (auto it = entries_.find(key); it != entries_.end()) {
    const Translation& t = it->second;
    const bool allowed = (access != Access::write || t.writable) &&
                         (access != Access::execute || t.executable);
    if (allowed) {
      Translation hit = t;
      hit.hpa = (t.hpa & kFrameMask) | (gpa & 0xfff);
      return {hit, {}};
    }
    entries_.erase(it);  // a permission miss re-walks, as hardware does
  }
  WalkResult result = walk(mc, root_hpa, gpa, access);
  if (result.ok()) entries_[key] = *result.translation;
  return result;
}

void Tlb::flush(std::uint32_t asid) {
  std::erase_if(entries_, [asid](const auto& item) { return item.first.asid == asid; });
}

std::optional<std::uint64_t> Editor::leaf_entry_address(std::uint64_t root_hpa,
                                                        std::uint64_t gpa,
                                                        const TableAllocator* allocate) {
  std::uint64_t table = root_hpa;
  for (int level = kLevels - 1; level > 0; --level) {
    const std::uint64_t entry_hpa = table + 8 * index_at(gpa, level);
    std::uint64_t entry = read_entry(entry_hpa);
    if ((entry & kPresent) == 0) {
      if (allocate == nullptr) return std::nullopt;
      const std::uint64_t fresh = (*allocate)();
      entry = make_entry(fresh, kPresent | kWritable | kExecutable);
      write_entry(entry_hpa, entry);
    }
    table = entry & kFrameMask;
  }
  return table + 8 * index_at(gpa, 0);
}

std::uint64_t Editor::read_entry(std::uint64_t entry_hpa) {
  return load_entry(mc_, entry_hpa, who_);
}

void Editor::write_entry(std::uint64_t entry_hpa, std::uint64_t entry) {
  std::array<std::uint8_t, 8> raw{};
  for (std::size_t i = 0; i < 8; ++i) raw[i] = static_cast<std::uint8_t>(entry >> (8 * i));
  mc_.write(entry_hpa, raw, who_);
}

}  // namespace cvmsim::hw::npt
