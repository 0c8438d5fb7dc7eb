// The PSP's closed list of status codes (docs/psp.md). Every mailbox command returns one,
// plus a detail word whose meaning depends on the status (for example the NPT level at
// which a walk stopped, or the index of the offending page), as TF-RMM's RmiStatus does.
#pragma once

#include <cstdint>
#include <string_view>

namespace cvmsim::psp {

enum class Status : std::uint32_t {
  success = 0,
  invalid_command = 1,        // no such command id
  invalid_vm = 2,             // no VM with this handle
  invalid_state = 3,          // the VM's state does not allow this command
  invalid_parameter = 4,      // a field is out of range or inconsistent
  invalid_address = 5,        // misaligned, outside the address space, or arithmetic overflow
  resource_exhausted = 6,     // no free ASID, or the private-memory budget is spent
  frame_not_available = 7,    // frame owned by another VM, the PSP or an NPT (detail: HPA page)
  already_mapped = 8,         // the GPA is mapped already
  not_mapped = 9,             // the GPA is not mapped
  measurement_mismatch = 10,  // the launch digest differs from the signed reference
  bad_signature = 11,         // a signature (reference, certificate) does not verify
  policy_violation = 12,      // the request contradicts the VM's policy
  npt_tampered = 13,          // the NPT's digest differs from the PSP's record
  vm_stopped = 14,            // the PSP stopped the VM (detail: stop reason)
  bad_certificate = 15,       // an image certificate is malformed, for another chip, or untrusted
  replayed_request = 16,      // a secure call's sequence number is not the expected one
  io_error = 17,              // the backing store failed
  internal_error = 18,        // a handler failed on input it did not foresee (detail: which
                              // command); answered at the dispatch boundary, never thrown
  write_protected = 19,       // a write to a disk the host attached read-only
  tlb_not_tracked = 20,       // a frame NPT_UNMAP took awaits its VM's TLB flush (detail: HPA)
  dram_aliased = 21,          // the boot-time probe found two addresses on the same DRAM cells
                              // (BadRAM): the PSP refuses every command (detail: the alias HPA)
};

inline constexpr std::uint32_t kStatusCount = 22;

std::string_view to_string(Status status);

struct Result {
  Status status = Status::success;
  std::uint64_t detail = 0;

  [[nodiscard]] bool ok() const noexcept { return status == Status::success; }
  static Result success() { return {}; }
  static Result failure(Status s, std::uint64_t detail = 0) { return {s, detail}; }
};

}  // namespace cvmsim::psp
