#include "image/image_file.h"

#include <algorithm>

#include "image/image_error.h"
#include "image/luks2_layout.h"
#include "image/posix_file.h"

namespace cvmsim::image {

Luks2Header read_luks2_header_file(const std::filesystem::path& path) {
  const InputFile in(path);
  Bytes binary(kLuks2BinaryHeaderSize);
  const std::size_t got = in.read_some_at(0, binary);
  binary.resize(got);
  const std::uint64_t header_size = luks2_stated_header_size(binary, path.string());
  if (header_size > kLuks2MaxHeaderSize || header_size < kLuks2BinaryHeaderSize) {
    return parse_luks2_header(binary, path.string());  // reports the bad size
  }
  Bytes copy(header_size);
  copy.resize(in.read_some_at(0, copy));
  return parse_luks2_header(copy, path.string());
}

bool looks_like_luks(const std::filesystem::path& path) {
  try {
    const InputFile in(path);
    Bytes magic(6);
    return in.read_some_at(0, magic) == magic.size() &&
           std::equal(magic.begin(), magic.end(), as_bytes(luks2_layout::kMagicPrimary).begin());
  } catch (const ImageError&) {
    return false;
  }
}

}  // namespace cvmsim::image
