// Errors of the hardware models (bus errors, bad configuration).
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::hw {

enum class HwErrc {
  bad_address,    // outside the physical address space, misaligned, or overflowing
  access_denied,  // the memory controller blocked the access (e.g. host write to a PSP frame)
  no_key,         // an encrypted frame's ASID has no key loaded
  cpu,            // the guest CPU (Unicorn) reported an internal error
  io,             // a disk's backing file could not be read or written
  bad_dma,        // a DMA descriptor or keyslot the disk controller refuses
  busy,           // a disk image is locked by another user (a writer, or readers for a writer)
};

constexpr std::string_view error_module_name(HwErrc) {
  return "hw";
}
std::string_view error_code_name(HwErrc code);

using HwError = ModuleError<HwErrc>;

}  // namespace cvmsim::hw
