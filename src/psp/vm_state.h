// The PSP's per-VM state machine (docs/architecture.md, "PSP firmware"):
//
//   LAUNCH_START -> launching --LAUNCH_UPDATE*--> launching
//   launching --LAUNCH_VERIFY ok--> verified --LAUNCH_FINISH--> running
//   launching --LAUNCH_VERIFY mismatch/bad signature--> refused
//   launching|verified|running --VM_STOP or tamper found--> stopped
//   any --DECOMMISSION--> (gone: VEK slot scrubbed, ASID free, frames scrubbed)
#pragma once

#include <cstdint>
#include <string_view>

namespace cvmsim::psp {

enum class VmState : std::uint8_t { launching, verified, running, refused, stopped };

std::string_view to_string(VmState state);

// Why the PSP stopped a VM (the detail word of Status::vm_stopped).
enum class StopReason : std::uint8_t {
  none = 0,
  requested = 1,     // VM_STOP from the VMM
  npt_tampered = 2,  // an NPT check found the table changed behind the PSP's back
  guest_fault = 3,   // the guest took an unrecoverable fault
};

std::string_view to_string(StopReason reason);

// The classes of command a VM receives; allowed() says in which states.
enum class CommandClass : std::uint8_t {
  launch_update,  // LAUNCH_UPDATE, LAUNCH_VERIFY
  launch_finish,  // LAUNCH_FINISH
  mapping,        // NPT_MAP / NPT_UNMAP
  donate,         // NPT_DONATE
  attach,         // DISK_ATTACH
  run,            // secure calls, running the guest
  stop,           // VM_STOP
  any,            // DECOMMISSION, TLB_TRACK: whatever the state
};

bool allowed(VmState state, CommandClass what);
// How a command allowed() refuses answers: vm_stopped (detail: the stop reason) where the
// host should learn that the PSP ended the VM (it keeps mapping, donating and forwarding
// secure calls for it), invalid_state (detail: the state) otherwise.
bool refused_as_stopped(VmState state, CommandClass what);

}  // namespace cvmsim::psp
