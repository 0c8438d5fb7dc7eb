#include "hw/npt/tlb.h"

namespace cvmsim::hw::npt {

WalkResult Tlb::translate(MemoryController& mc, std::uint32_t asid, std::uint64_t root_hpa,
                          std::uint64_t gpa, Access access) {
  const Key key{asid, gpa >> 12};
  if (auto it = entries_.find(key); it != entries_.end()) {
    const Translation& t = it->second;
    const bool allowed =
        (access != Access::write || t.writable) && (access != Access::execute || t.executable);
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

}  // namespace cvmsim::hw::npt
