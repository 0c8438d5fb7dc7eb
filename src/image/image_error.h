// Errors of the image layer: image certificates, LUKS2 headers and packing.
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::image {

enum class ImageErrc {
  bad_certificate,  // a CVMSICRT image certificate that is malformed or inconsistent
  bad_header,       // a LUKS2 header that is malformed (magic, size, checksum, JSON)
  bad_input,        // pack parameters or input that cannot make an image
  io,               // reading the raw input or writing the image failed
  already_exists,   // the output exists and the command was not told to replace it
};

constexpr std::string_view error_module_name(ImageErrc) {
  return "image";
}
std::string_view error_code_name(ImageErrc code);

using ImageError = ModuleError<ImageErrc>;

}  // namespace cvmsim::image
