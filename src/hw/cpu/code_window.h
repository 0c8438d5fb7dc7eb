// The region the last translation block ran from: the block hook's fast path. The
// RegionMap keeps it (note_code sets it, drops and flushes clear it) in memory its owner
// provides, so that the hook reads it beside its other state: two compares per block,
// where a call into the map cost 15% of a tight loop (docs/benchmarks.md, "Guest CPU").
#pragma once

#include <cstdint>

namespace cvmsim::hw::cpu {

struct CodeWindow {
  std::uint64_t first = 0;
  std::uint64_t size = 0;  // 0: no window
  [[nodiscard]] bool contains(std::uint64_t gpa) const noexcept { return gpa - first < size; }
};

}  // namespace cvmsim::hw::cpu
