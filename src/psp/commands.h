// The PSP mailbox: typed, validated command structures. The VMM builds a Command, the PSP
// executes it and returns a Response. Each command is a struct in the Command variant; the
// variant index is the command id, and dispatch is a std::visit over the PSP's handler
// overload set, so a command without a handler does not compile (the compile-time check
// TF-RMM gets from its command table).
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "measure/launch_digest.h"
#include "psp/status.h"

namespace cvmsim::psp {

using VmHandle = std::uint32_t;

// Page permissions requested for a mapping (the NPT entry bits are in docs/formats.md).
struct MapPermissions {
  bool writable = true;
  bool executable = false;
  bool shared = false;  // plaintext memory the guest shares with the host (no VEK)
};

struct PlatformStatus {};
struct LaunchStart {
  std::uint64_t policy = 0;        // measure::Policy word; refused if it has unknown bits
  std::uint64_t npt_root_hpa = 0;  // a free frame the VMM donates for the NPT root
};
struct LaunchUpdate {
  VmHandle vm = 0;
  std::uint64_t gpa = 0;
  measure::PageType type = measure::PageType::firmware;
  std::uint64_t hpa = 0;  // the free frame the VMM donates for this page
  Bytes contents;         // 4096 bytes (empty for zero pages and the vCPU state)
};
struct LaunchVerify {
  VmHandle vm = 0;
  Bytes reference;     // CVMSREF1 bytes
  Bytes provider_key;  // the provider's public key, DER or PEM
};
struct LaunchFinish {
  VmHandle vm = 0;
};
struct NptDonate {
  VmHandle vm = 0;
  std::vector<std::uint64_t> frames;  // free frames for NPT table pages
};
struct NptMap {
  VmHandle vm = 0;
  std::uint64_t gpa = 0;
  std::uint64_t hpa = 0;
  std::uint64_t pages = 1;
  MapPermissions permissions;
};
// The unmapped frames stay the VM's, awaiting a TLB flush, until TLB_TRACK has advanced
// the VM's epoch and every vCPU of the VM has flushed since (TLB tracking).
struct NptUnmap {
  VmHandle vm = 0;
  std::uint64_t gpa = 0;
  std::uint64_t pages = 1;
};
struct VmStop {
  VmHandle vm = 0;
};
struct Decommission {
  VmHandle vm = 0;
};
// The host tells the PSP which disk-controller port holds the VM's disk. Untrusted: the
// PSP programs an image key for that port only after a certificate for this chip and this
// VM's provider verifies, and a wrong disk then reads as garbage.
struct DiskAttach {
  VmHandle vm = 0;
  std::uint32_t port = 0;
};
// Forwarded by the VMM when the guest writes the GPA of a request page to the secure-call
// port; the VMM never sees the request (it is in the VM's encrypted memory).
struct SecureCall {
  VmHandle vm = 0;
  std::uint64_t gpa = 0;
};

// Advances the VM's TLB epoch (TDX's TDH.MEM.TRACK): each vCPU of the VM flushes at its
// next entry, or when the VMM flushes it, and frames NPT_UNMAP took before the new epoch
// can change hands once every vCPU has.
struct TlbTrack {
  VmHandle vm = 0;
};

using Command =
    std::variant<PlatformStatus, LaunchStart, LaunchUpdate, LaunchVerify, LaunchFinish, NptDonate,
                 NptMap, NptUnmap, VmStop, Decommission, DiskAttach, SecureCall, TlbTrack>;

// Mailbox names, indexed by Command::index() (the static_assert below keeps them in step).
inline constexpr std::string_view kCommandNames[] = {
    "PLATFORM_STATUS", "LAUNCH_START", "LAUNCH_UPDATE", "LAUNCH_VERIFY", "LAUNCH_FINISH",
    "NPT_DONATE",      "NPT_MAP",      "NPT_UNMAP",     "VM_STOP",       "DECOMMISSION",
    "DISK_ATTACH",     "SECURE_CALL",  "TLB_TRACK"};
static_assert(std::size(kCommandNames) == std::variant_size_v<Command>,
              "every mailbox command needs a name");

inline std::string_view command_name(const Command& c) {
  return kCommandNames[c.index()];
}

}  // namespace cvmsim::psp
