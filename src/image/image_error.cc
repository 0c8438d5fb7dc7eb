#include "image/image_error.h"

namespace cvmsim::image {

std::string_view error_code_name(ImageErrc code) {
  switch (code) {
    case ImageErrc::bad_certificate:
      return "bad_certificate";
    case ImageErrc::bad_header:
      return "bad_header";
    case ImageErrc::bad_input:
      return "bad_input";
    case ImageErrc::io:
      return "io";
    case ImageErrc::already_exists:
      return "already_exists";
  }
  return "unknown";
}

}  // namespace cvmsim::image
