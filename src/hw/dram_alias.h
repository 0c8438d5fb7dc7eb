// A DRAM alias, as a tampered SPD makes one (BadRAM, IEEE S&P 2025): the module reports
// more address bits than its chips decode, so the memory controller routes two physical
// address ranges to the same DRAM cells. It is a property of the platform's hardware,
// fixed when host memory is built; nothing at run time can add or remove one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace cvmsim::hw {

// Host-physical [alias, alias + length) reaches the cells of [target, target + length).
// The memory controller sees the alias addresses as addresses of their own: their own
// frame tags, their own XTS tweak. Only the cells are shared.
struct DramAlias {
  std::uint64_t alias = 0;
  std::uint64_t target = 0;
  std::uint64_t length = 0;
  bool operator==(const DramAlias&) const = default;
};

// Throws HwError{bad_address} unless every alias is frame aligned, non-empty, inside
// `memory_size`, and no alias range overlaps a target or another alias (one address
// reaches at most one other address's cells: the second address bit of a real module
// would make a chain, which this model does not need).
void check_dram_aliases(std::span<const DramAlias> aliases, std::uint64_t memory_size);

// Parses "ALIAS:TARGET:LENGTH" (each number decimal or 0x hex), as `--dram-alias` takes
// it. Throws HwError{bad_address} naming `text` and what is wrong with it.
DramAlias parse_dram_alias(const std::string& text);

}  // namespace cvmsim::hw
