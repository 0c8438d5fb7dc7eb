// The dram-alias scenario (BadRAM, IEEE S&P 2025): on a platform whose SPD was tampered
// with, the host reaches a victim frame's DRAM cells through a second physical address,
// snapshots its ciphertext there and later writes it back there, never touching the
// victim's own address.
#pragma once

#include "hw/dram_alias.h"
#include "lab/attacks/catalogue.h"

namespace cvmsim::lab::attacks {

// The tampered SPD of the scenario: the module claims one address bit more than its chips
// decode, so the upper half of host memory reaches the cells of the lower half.
hw::DramAlias badram_alias(std::uint64_t host_memory);

// Runs the replay on an aliased platform whose PSP runs the boot-time alias check or not
// (`alias_check`: false shows firmware without the countermeasure). Without the check
// the outcome is `succeeded` when the victim read its old record back; with it,
// `prevented` when the platform refused to launch the victim.
Outcome dram_alias_replay(const RunOptions& options, bool alias_check);

}  // namespace cvmsim::lab::attacks
