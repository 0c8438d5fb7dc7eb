// Errors of the VMM: launches the PSP refused, guests that failed.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::vmm {

enum class VmmErrc {
  launch_refused,  // the PSP refused a launch command (the message names command and status)
  out_of_frames,   // the host has no free frames left
  bad_request,     // a caller asked for something impossible (unknown VM, bad size)
};

constexpr std::string_view error_module_name(VmmErrc) {
  return "vmm";
}
std::string_view error_code_name(VmmErrc code);

using VmmError = ModuleError<VmmErrc>;

}  // namespace cvmsim::vmm
