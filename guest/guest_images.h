// The guest programs built into the cvmsim binary (so `cvmsim demo` needs no files).
#pragma once

#include <map>
#include <string_view>

#include "common/bytes.h"

namespace cvmsim::guest_images {

// Name -> flat image, e.g. "hello", "memwalk".
const std::map<std::string_view, ByteView>& all();

}  // namespace cvmsim::guest_images
