// Turns a Unicorn error into HwError{cpu} naming the operation.
#pragma once

#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include "hw/hw_error.h"

namespace cvmsim::hw::cpu {

inline void check_uc(uc_err err, const char* what) {
  if (err != UC_ERR_OK) {
    throw HwError(HwErrc::cpu, fmt::format("unicorn: {}: {}", what, uc_strerror(err)));
  }
}

}  // namespace cvmsim::hw::cpu
