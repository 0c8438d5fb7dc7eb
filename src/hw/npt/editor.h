// Writes NPT entries through the memory controller as `who`: the PSP in guarded modes
// (isolate-mode table frames are write-blocked for everyone else), the VMM in `off` mode,
// and attack scenarios that tamper. Kept apart from the walker so that table *writers*
// are easy to find and audit.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "hw/memory_controller.h"
#include "hw/npt/format.h"

namespace cvmsim::hw::npt {

class Editor {
 public:
  // Returns the HPA of a zeroed frame for a new table page.
  using TableAllocator = std::function<std::uint64_t()>;
  Editor(MemoryController& mc, Requester who) : mc_(mc), who_(who) {}

  // The host address of the leaf entry for `gpa`, allocating missing tables when
  // `allocate` is set (else nullopt when a table is missing). Throws HwError{bad_address}
  // for a GPA beyond 48 bits.
  std::optional<std::uint64_t> leaf_entry_address(std::uint64_t root_hpa, std::uint64_t gpa,
                                                  const TableAllocator* allocate);
  // Called with the host address of every entry the editor writes (the PSP notes them
  // for its characteristic value).
  using WriteObserver = std::function<void(std::uint64_t entry_hpa)>;
  // Writes `entry` as the leaf entry for `gpa`, creating missing tables from `allocate`:
  // the one way the PSP, the VMM (guard off) and the attack lab install a mapping.
  void map(std::uint64_t root_hpa, std::uint64_t gpa, std::uint64_t entry,
           const TableAllocator& allocate, const WriteObserver& written = {});
  [[nodiscard]] std::uint64_t read_entry(std::uint64_t entry_hpa);
  void write_entry(std::uint64_t entry_hpa, std::uint64_t entry);

 private:
  std::optional<std::uint64_t> leaf_entry(std::uint64_t root_hpa, std::uint64_t gpa,
                                          const TableAllocator* allocate,
                                          const WriteObserver* written);

  MemoryController& mc_;
  Requester who_;
};

}  // namespace cvmsim::hw::npt
