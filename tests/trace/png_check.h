// A small, strict PNG decoder for checking what rsvg-convert drew: chunk CRCs, IHDR,
// zlib-compressed IDAT, the five scanline filters; 8-bit RGB or RGBA, not interlaced.
// Enough to count pixels by colour without trusting the renderer's own claims.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cvmsim::test {

struct PngImage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<std::uint8_t> rgba;  // width * height * 4, alpha 255 for RGB files
};

// Throws std::runtime_error naming the defect.
PngImage decode_png(const std::vector<std::uint8_t>& file);

}  // namespace cvmsim::test
