#include "hw/npt/editor.h"

#include <fmt/format.h>

#include <array>

#include "hw/hw_error.h"

namespace cvmsim::hw::npt {

std::optional<std::uint64_t> Editor::leaf_entry_address(std::uint64_t root_hpa, std::uint64_t gpa,
                                                        const TableAllocator* allocate) {
  return leaf_entry(root_hpa, gpa, allocate, nullptr);
}

void Editor::map(std::uint64_t root_hpa, std::uint64_t gpa, std::uint64_t entry,
                 const TableAllocator& allocate, const WriteObserver& written) {
  const WriteObserver* observer = written ? &written : nullptr;
  const std::uint64_t at = *leaf_entry(root_hpa, gpa, &allocate, observer);
  write_entry(at, entry);
  if (observer != nullptr) (*observer)(at);
}

std::optional<std::uint64_t> Editor::leaf_entry(std::uint64_t root_hpa, std::uint64_t gpa,
                                                const TableAllocator* allocate,
                                                const WriteObserver* written) {
  if (gpa >= kGpaLimit) {
    throw HwError(HwErrc::bad_address,
                  fmt::format("GPA {:#x} is beyond the 48-bit guest-physical space", gpa));
  }
  std::uint64_t table = root_hpa;
  for (int level = kLevels - 1; level > 0; --level) {
    const std::uint64_t entry_hpa = table + kEntrySize * index_at(gpa, level);
    std::uint64_t entry = read_entry(entry_hpa);
    if ((entry & kPresent) == 0) {
      if (allocate == nullptr) return std::nullopt;
      const std::uint64_t fresh = (*allocate)();
      entry = make_entry(fresh, kPresent | kWritable | kExecutable);
      write_entry(entry_hpa, entry);
      if (written != nullptr) (*written)(entry_hpa);
    }
    table = entry & kFrameMask;
  }
  return table + kEntrySize * index_at(gpa, 0);
}

std::uint64_t Editor::read_entry(std::uint64_t entry_hpa) {
  std::array<std::uint8_t, kEntrySize> raw{};
  mc_.read(entry_hpa, raw, who_);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < kEntrySize; ++i) v |= std::uint64_t{raw[i]} << (8 * i);
  return v;
}

void Editor::write_entry(std::uint64_t entry_hpa, std::uint64_t entry) {
  std::array<std::uint8_t, kEntrySize> raw{};
  for (std::size_t i = 0; i < kEntrySize; ++i) raw[i] = static_cast<std::uint8_t>(entry >> (8 * i));
  mc_.write(entry_hpa, raw, who_);
}

}  // namespace cvmsim::hw::npt
