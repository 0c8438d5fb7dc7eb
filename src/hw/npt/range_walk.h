// What walks of the nested page tables read, for whoever audits the tables rather than
// translating through them (the PSP's guard checks exactly the entries a walk reads).
// Reads go through the memory controller as `who`; child pointers are read, not trusted:
// one that leads outside memory makes the controller throw HwError, which the caller
// turns into its own refusal.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "hw/memory_controller.h"

namespace cvmsim::hw::npt {

// The tables a walk of `gpa` passes through, the root first: 1 to 4, as the walk stops
// at the first entry that is not present.
std::vector<std::uint64_t> path_tables(MemoryController& mc, Requester who, std::uint64_t root_hpa,
                                       std::uint64_t gpa);

// Calls `visit` with the host address of every entry that walks of the GPAs [lo, hi)
// read, each once, table by table (a parent entry before the entries of its child),
// following present entries down. `lo < hi`, both below 2^48.
void for_each_entry_read(MemoryController& mc, Requester who, std::uint64_t root_hpa,
                         std::uint64_t lo, std::uint64_t hi,
                         const std::function<void(std::uint64_t entry_hpa)>& visit);

}  // namespace cvmsim::hw::npt
