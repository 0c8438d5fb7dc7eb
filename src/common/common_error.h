// Errors of the common layer: files, encodings and arithmetic on untrusted sizes.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim {

enum class CommonErrc {
  io,            // the operating system refused a file operation
  too_large,     // an input exceeds its documented size limit
  bad_encoding,  // hex, PEM or another text encoding is malformed
  overflow,      // arithmetic on an untrusted size or address would wrap
};

constexpr std::string_view error_module_name(CommonErrc) {
  return "common";
}
std::string_view error_code_name(CommonErrc code);

using CommonError = ModuleError<CommonErrc>;

}  // namespace cvmsim
