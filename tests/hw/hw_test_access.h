// Hardware unit tests stand in for the PSP when they need the privileged ports.
#pragma once

#include "hw/memory_controller.h"

namespace cvmsim::hw {

struct HardwareTestAccess {
  static PspPasskey passkey() { return {}; }
};

}  // namespace cvmsim::hw
