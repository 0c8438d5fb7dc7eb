#include "psp/vm_state.h"

namespace cvmsim::psp {

std::string_view to_string(VmState state) {
  switch (state) {
    case VmState::launching:
      return "launching";
    case VmState::verified:
      return "verified";
    case VmState::running:
      return "running";
    case VmState::refused:
      return "refused";
    case VmState::stopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::none:
      return "none";
    case StopReason::requested:
      return "requested";
    case StopReason::npt_tampered:
      return "npt_tampered";
    case StopReason::guest_fault:
      return "guest_fault";
  }
  return "unknown";
}

bool allowed(VmState state, CommandClass what) {
  switch (what) {
    case CommandClass::launch_update:
      return state == VmState::launching;
    case CommandClass::launch_finish:
      return state == VmState::verified;
    case CommandClass::mapping:
      return state == VmState::launching || state == VmState::verified || state == VmState::running;
    case CommandClass::donate:
    case CommandClass::attach:
    case CommandClass::stop:
      return state == VmState::launching || state == VmState::verified || state == VmState::running;
    case CommandClass::run:
      return state == VmState::running;
    case CommandClass::any:
      return true;
  }
  return false;
}

bool refused_as_stopped(VmState state, CommandClass what) {
  switch (what) {
    case CommandClass::mapping:
    case CommandClass::run:
      return state == VmState::stopped;
    case CommandClass::donate:  // a refused VM's donation too (detail: StopReason::none)
      return state == VmState::stopped || state == VmState::refused;
    default:
      return false;
  }
}

}  // namespace cvmsim::psp
