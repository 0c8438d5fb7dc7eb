// Hardware unit tests stand in for the PSP when they need the privileged ports.
#pragma once

#include "hw/memory_controller.h"

namespace cvmsim::hw {

struct HardwareTestAccess {
  static PspPasskey passkey() { return {}; }
};

inline PspPasskey test_passkey() {
  return HardwareTestAccess::passkey();
}
// A vCPU (or another initiator) of the VM whose key sits in slot `asid`.
inline Requester keyed(std::uint32_t asid, Initiator who = Initiator::guest_cpu) {
  return Requester::keyed(test_passkey(), who, asid);
}
inline Requester psp_access(std::uint32_t asid = 0) {
  return Requester::psp(test_passkey(), asid);
}

}  // namespace cvmsim::hw
