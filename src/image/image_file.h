// Reading the header area of an image file without reading the (possibly huge) data.
#pragma once

#include <filesystem>

#include "image/luks2.h"

namespace cvmsim::image {

// Reads the binary header, then the whole primary header copy, and parses it.
// Throws ImageError{io} or {bad_header}.
Luks2Header read_luks2_header_file(const std::filesystem::path& path);

// True when the file begins with the LUKS magic (false for short or unreadable files).
bool looks_like_luks(const std::filesystem::path& path);

}  // namespace cvmsim::image
