// The PSP's closed list of status codes (listed for users in docs/cli.md). Every mailbox command
// returns one, plus a detail word whose meaning depends on the status (for example the NPT level at
// which a walk stopped, or the index of the offending page), as TF-RMM's RmiStatus does.
#pragma once

#include <cstdint>
#include <string_view>

#include "abi/cvm_abi.h"

namespace cvmsim::psp {

// The values are the ABI's (src/abi/cvm_abi.h), which guests compare against.
enum class Status : std::uint32_t {
  success = CVM_OK,
  // No such command id.
  invalid_command = CVM_INVALID_COMMAND,
  // No VM with this handle.
  invalid_vm = CVM_INVALID_VM,
  // The VM's state does not allow this command.
  invalid_state = CVM_INVALID_STATE,
  // A field is out of range or inconsistent.
  invalid_parameter = CVM_INVALID_PARAMETER,
  // Misaligned, outside the address space, or arithmetic overflow.
  invalid_address = CVM_INVALID_ADDRESS,
  // No free ASID, or the private-memory budget is spent.
  resource_exhausted = CVM_RESOURCE_EXHAUSTED,
  // Frame owned by another VM, the PSP or an NPT (detail: HPA page).
  frame_not_available = CVM_FRAME_NOT_AVAILABLE,
  // The GPA is mapped already.
  already_mapped = CVM_ALREADY_MAPPED,
  // The GPA is not mapped.
  not_mapped = CVM_NOT_MAPPED,
  // The launch digest differs from the signed reference.
  measurement_mismatch = CVM_MEASUREMENT_MISMATCH,
  // A signature (reference, certificate) does not verify.
  bad_signature = CVM_BAD_SIGNATURE,
  // The request contradicts the VM's policy.
  policy_violation = CVM_POLICY_VIOLATION,
  // The NPT's digest differs from the PSP's record.
  npt_tampered = CVM_NPT_TAMPERED,
  // The PSP stopped the VM (detail: stop reason).
  vm_stopped = CVM_VM_STOPPED,
  // An image certificate is malformed, for another chip, or untrusted.
  bad_certificate = CVM_BAD_CERTIFICATE,
  // A secure call's sequence number is not the expected one.
  replayed_request = CVM_REPLAYED_REQUEST,
  // The backing store failed.
  io_error = CVM_IO_ERROR,
  // A handler failed on input it did not foresee (detail: which command); answered at the
  // dispatch boundary, never thrown.
  internal_error = CVM_INTERNAL_ERROR,
  // A write to a disk the host attached read-only.
  write_protected = CVM_WRITE_PROTECTED,
  // A frame NPT_UNMAP took awaits its VM's TLB flush (detail: HPA).
  tlb_not_tracked = CVM_TLB_NOT_TRACKED,
  // The boot-time probe found two addresses on the same DRAM cells (BadRAM): the PSP
  // refuses every command (detail: the alias HPA).
  dram_aliased = CVM_DRAM_ALIASED,
  // An authenticated image's sector does not match its tag: tampered, replayed or moved
  // (detail: the sector, from the start of the data segment). Nothing reached memory.
  tag_mismatch = CVM_TAG_MISMATCH,
  // An authenticated image's tags do not give the root the PSP holds for it, or the PSP's
  // non-volatile storage cannot vouch for the root (detail: DiskRootDetail).
  disk_rolled_back = CVM_DISK_ROLLED_BACK,
};

inline constexpr std::uint32_t kStatusCount = CVM_STATUS_COUNT;

std::string_view to_string(Status status);

struct Result {
  Status status = Status::success;
  std::uint64_t detail = 0;

  [[nodiscard]] bool ok() const noexcept { return status == Status::success; }
  static Result success() { return {}; }
  static Result failure(Status s, std::uint64_t detail = 0) { return {s, detail}; }
};

}  // namespace cvmsim::psp
