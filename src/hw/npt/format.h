// Nested page table format: 4-level radix tables of 4 KiB pages, 512 little-endian 8-byte
// entries per table, stored in host frames. Byte-exact layout in docs/formats.md, "Nested
// page table entries":
//
//   bit 0  present       bit 3  shared: the guest's access uses no key (plaintext it
//   bit 1  writable             shares with the host); leaf entries only, reserved above
//   bit 2  executable    bits 12..51  host frame number (HPA >> 12)
//   every other bit is reserved and must be 0 (a walk that meets one faults)
//
// Permissions are the AND of all levels, as on x86. GPAs have 48 bits (level 3 = root,
// indexed by GPA bits 39..47; level 0 = leaf table, bits 12..20).
#pragma once

#include <cstddef>
#include <cstdint>

namespace cvmsim::hw::npt {

inline constexpr std::uint64_t kPresent = 1ull << 0;
inline constexpr std::uint64_t kWritable = 1ull << 1;
inline constexpr std::uint64_t kExecutable = 1ull << 2;
inline constexpr std::uint64_t kShared = 1ull << 3;
inline constexpr std::uint64_t kFrameMask = 0x000f'ffff'ffff'f000ull;
inline constexpr std::uint64_t kFlagMask = kPresent | kWritable | kExecutable | kShared;
inline constexpr std::uint64_t kReservedMask = ~(kFrameMask | kFlagMask);
inline constexpr int kLevels = 4;
inline constexpr std::uint64_t kGpaLimit = 1ull << 48;
inline constexpr std::size_t kEntriesPerTable = 512;
inline constexpr std::size_t kEntrySize = 8;

// Index into the table at `level` (3 = root, 0 = leaf table).
constexpr std::size_t index_at(std::uint64_t gpa, int level) {
  return static_cast<std::size_t>((gpa >> (12 + 9 * level)) & 0x1ff);
}

constexpr std::uint64_t make_entry(std::uint64_t hpa, std::uint64_t flags) {
  return (hpa & kFrameMask) | (flags & kFlagMask);
}

static_assert(make_entry(0x1234'5678'9000, kPresent | kWritable) == 0x0000'1234'5678'9003);
static_assert(index_at(0xffff'ffff'ffff, 3) == 511 && index_at(0x1000, 0) == 1);

}  // namespace cvmsim::hw::npt
