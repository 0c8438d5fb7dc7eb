#include "psp/status.h"

namespace cvmsim::psp {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::success:
      return "success";
    case Status::invalid_command:
      return "invalid_command";
    case Status::invalid_vm:
      return "invalid_vm";
    case Status::invalid_state:
      return "invalid_state";
    case Status::invalid_parameter:
      return "invalid_parameter";
    case Status::invalid_address:
      return "invalid_address";
    case Status::resource_exhausted:
      return "resource_exhausted";
    case Status::frame_not_available:
      return "frame_not_available";
    case Status::already_mapped:
      return "already_mapped";
    case Status::not_mapped:
      return "not_mapped";
    case Status::measurement_mismatch:
      return "measurement_mismatch";
    case Status::bad_signature:
      return "bad_signature";
    case Status::policy_violation:
      return "policy_violation";
    case Status::npt_tampered:
      return "npt_tampered";
    case Status::vm_stopped:
      return "vm_stopped";
    case Status::bad_certificate:
      return "bad_certificate";
    case Status::replayed_request:
      return "replayed_request";
    case Status::io_error:
      return "io_error";
    case Status::internal_error:
      return "internal_error";
    case Status::write_protected:
      return "write_protected";
    case Status::tlb_not_tracked:
      return "tlb_not_tracked";
    case Status::dram_aliased:
      return "dram_aliased";
    case Status::tag_mismatch:
      return "tag_mismatch";
    case Status::disk_rolled_back:
      return "disk_rolled_back";
  }
  return "unknown";
}

}  // namespace cvmsim::psp
