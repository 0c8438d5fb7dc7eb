// A per-ASID TLB over walk(): translations stay cached, stale, until flushed, as on
// hardware. The guest CPU's mapped regions play the same role for its own accesses
// (hw/guest_cpu.h); this one serves other users of translations (e.g. the PSP's checks of
// guest pages, DMA set-up) that want hardware-like caching.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "hw/npt/walker.h"

namespace cvmsim::hw::npt {

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

}  // namespace cvmsim::hw::npt
