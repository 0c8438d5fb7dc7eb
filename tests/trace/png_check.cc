#include "png_check.h"

#include <zlib.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace cvmsim::test {
namespace {

constexpr std::array<std::uint8_t, 8> kSignature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

std::uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<std::uint8_t>(a);
  return static_cast<std::uint8_t>(pb <= pc ? b : c);
}

std::vector<std::uint8_t> inflate_all(const std::vector<std::uint8_t>& in, std::size_t expected) {
  std::vector<std::uint8_t> out(expected);
  uLongf size = static_cast<uLongf>(expected);
  const int rc = uncompress(out.data(), &size, in.data(), static_cast<uLong>(in.size()));
  if (rc != Z_OK) throw std::runtime_error("IDAT does not inflate: zlib " + std::to_string(rc));
  if (size != expected) throw std::runtime_error("IDAT inflates to the wrong size");
  return out;
}

}  // namespace

PngImage decode_png(const std::vector<std::uint8_t>& file) {
  if (file.size() < 8 || !std::equal(kSignature.begin(), kSignature.end(), file.begin())) {
    throw std::runtime_error("no PNG signature");
  }
  PngImage img;
  std::size_t channels = 0;
  std::vector<std::uint8_t> idat;
  bool ended = false;
  std::size_t pos = 8;
  while (pos + 12 <= file.size() && !ended) {
    const std::uint32_t len = be32(&file[pos]);
    if (len > file.size() - pos - 12) throw std::runtime_error("chunk runs past the file");
    const std::uint8_t* type = &file[pos + 4];
    const std::uint8_t* data = &file[pos + 8];
    const std::uint32_t crc = be32(&file[pos + 8 + len]);
    if (crc32(crc32(0, nullptr, 0), type, len + 4) != crc) throw std::runtime_error("bad CRC");
    const std::string name(reinterpret_cast<const char*>(type), 4);
    if (name == "IHDR") {
      if (len != 13) throw std::runtime_error("IHDR is not 13 bytes");
      img.width = be32(data);
      img.height = be32(data + 4);
      const int depth = data[8];
      const int colour = data[9];
      if (depth != 8 || (colour != 2 && colour != 6) || data[12] != 0) {
        throw std::runtime_error("unsupported PNG: depth " + std::to_string(depth) + ", colour " +
                                 std::to_string(colour) + ", interlace " +
                                 std::to_string(data[12]));
      }
      channels = colour == 6 ? 4u : 3u;
    } else if (name == "IDAT") {
      idat.insert(idat.end(), data, data + len);
    } else if (name == "IEND") {
      ended = true;
    }
    pos += 12 + len;
  }
  if (!ended || channels == 0) throw std::runtime_error("no IHDR or IEND");
  if (img.width == 0 || img.height == 0 || img.width > 20000 || img.height > 200000) {
    throw std::runtime_error("implausible size");
  }
  const std::size_t stride = std::size_t{img.width} * channels;
  const auto raw = inflate_all(idat, (stride + 1) * img.height);
  std::vector<std::uint8_t> pixels(stride * img.height);
  for (std::size_t y = 0; y < img.height; ++y) {
    const std::uint8_t filter = raw[y * (stride + 1)];
    const std::uint8_t* in = &raw[y * (stride + 1) + 1];
    std::uint8_t* row = &pixels[y * stride];
    const std::uint8_t* up = y > 0 ? &pixels[(y - 1) * stride] : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= channels ? row[x - channels] : 0;
      const int b = up ? up[x] : 0;
      const int c = (up && x >= channels) ? up[x - channels] : 0;
      int v = in[x];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) / 2;
          break;
        case 4:
          v += paeth(a, b, c);
          break;
        default:
          throw std::runtime_error("bad filter type " + std::to_string(filter));
      }
      row[x] = static_cast<std::uint8_t>(v);
    }
  }
  img.rgba.resize(std::size_t{img.width} * img.height * 4);
  for (std::size_t i = 0; i < std::size_t{img.width} * img.height; ++i) {
    for (std::size_t k = 0; k < 3; ++k) img.rgba[i * 4 + k] = pixels[i * channels + k];
    img.rgba[i * 4 + 3] = channels == 4 ? pixels[i * channels + 3] : 255;
  }
  return img;
}

}  // namespace cvmsim::test
