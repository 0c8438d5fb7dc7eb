// The PSP's private memory: a fixed budget (default 256 KiB) from which every PSP data
// structure is allocated and accounted per owner, so the per-VM footprint can be reported
// and a VM cannot exhaust the PSP for others beyond the budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

namespace cvmsim::psp {

inline constexpr std::size_t kDefaultPrivateMemoryBudget = 256 * 1024;

// Accounting identity of an allocation: the PSP itself (0) or a VM handle.
using MemoryOwner = std::uint32_t;
inline constexpr MemoryOwner kPspOwner = 0;

class PrivateMemory {
 public:
  explicit PrivateMemory(std::size_t budget = kDefaultPrivateMemoryBudget) : budget_(budget) {}

  // A charge against the budget, released on destruction (RAII).
  class Allocation {
   public:
    Allocation() = default;
    Allocation(Allocation&& other) noexcept { *this = std::move(other); }
    Allocation& operator=(Allocation&& other) noexcept;
    Allocation(const Allocation&) = delete;
    Allocation& operator=(const Allocation&) = delete;
    ~Allocation() { release(); }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    void release() noexcept;

   private:
    friend class PrivateMemory;
    Allocation(PrivateMemory* memory, MemoryOwner owner, std::size_t size)
        : memory_(memory), owner_(owner), size_(size) {}
    PrivateMemory* memory_ = nullptr;  // not owned: the PSP outlives its allocations
    MemoryOwner owner_ = kPspOwner;
    std::size_t size_ = 0;
  };

  // Returns an empty optional-like Allocation (size 0) when the budget is spent.
  [[nodiscard]] bool try_allocate(MemoryOwner owner, std::size_t size, Allocation& out);

  [[nodiscard]] std::size_t budget() const noexcept { return budget_; }
  [[nodiscard]] std::size_t used() const noexcept { return used_; }
  [[nodiscard]] std::size_t used_by(MemoryOwner owner) const;

 private:
  void give_back(MemoryOwner owner, std::size_t size) noexcept;

  std::size_t budget_;
  std::size_t used_ = 0;
  std::map<MemoryOwner, std::size_t> per_owner_;
};

}  // namespace cvmsim::psp
