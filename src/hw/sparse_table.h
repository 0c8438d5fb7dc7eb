// A sparse array indexed by a dense number (a 2 MiB chunk of host memory), in two levels:
// a directory of groups of 512 slots, each group allocated on first write. A look-up is
// two dependent loads, where the unordered_maps it replaced cost a hash and, for the
// millions of frames of a 64 GiB guest, a cache miss or two (docs/benchmarks.md, "NPT_MAP
// in the PSP"). The directory has one pointer per 512 indices: 8 KiB for the 512 Ki
// chunks of a 1 TiB host.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace cvmsim::hw {

template <typename T>
class SparseTable {
 public:
  static constexpr std::size_t kGroupBits = 9;
  static constexpr std::size_t kGroupSize = std::size_t{1} << kGroupBits;

  // Indices [0, size).
  explicit SparseTable(std::uint64_t size) : groups_((size + kGroupSize - 1) / kGroupSize) {}

  // The slot at `index` (< size), or nullptr when its group was never written.
  [[nodiscard]] const T* find(std::uint64_t index) const noexcept {
    const auto& group = groups_[index >> kGroupBits];
    return group ? &(*group)[index & (kGroupSize - 1)] : nullptr;
  }
  // The slot at `index` (< size), default-constructed on first use.
  T& at(std::uint64_t index) {
    auto& group = groups_[index >> kGroupBits];
    if (!group) group = std::make_unique<Group>();
    return (*group)[index & (kGroupSize - 1)];
  }
  // Calls f(index, slot) for every slot of every allocated group, in index order.
  template <typename F>
  void for_each(F&& f) {
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (!groups_[g]) continue;
      for (std::size_t i = 0; i < kGroupSize; ++i)
        f((std::uint64_t{g} << kGroupBits) | i, (*groups_[g])[i]);
    }
  }
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (!groups_[g]) continue;
      for (std::size_t i = 0; i < kGroupSize; ++i)
        f((std::uint64_t{g} << kGroupBits) | i, (*groups_[g])[i]);
    }
  }

 private:
  using Group = std::array<T, kGroupSize>;
  std::vector<std::unique_ptr<Group>> groups_;
};

}  // namespace cvmsim::hw
