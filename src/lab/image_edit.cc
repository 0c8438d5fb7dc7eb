#include "lab/image_edit.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>

#include "common/file_io.h"
#include "image/image_error.h"
#include "image/luks2.h"
#include "image/luks2_layout.h"

namespace cvmsim::lab {

void rewrite_luks2_metadata(const std::filesystem::path& image,
                            const std::function<void(nlohmann::json&)>& edit) {
  // Images in tests and scenarios are small; the header copy is at the start.
  Bytes bytes = read_file(image, 1ull << 30);
  const image::Luks2Header header = image::parse_luks2_header(bytes, image.string());
  nlohmann::json metadata = header.metadata;
  edit(metadata);
  const std::string text = metadata.dump();
  const std::uint64_t area = header.header_size - image::kLuks2BinaryHeaderSize;
  if (text.size() >= area) {
    throw image::ImageError(image::ImageErrc::bad_input,
                            fmt::format("{}: the edited JSON ({} bytes) does not fit the {}-byte "
                                        "JSON area",
                                        image.string(), text.size(), area));
  }
  namespace layout = image::luks2_layout;
  const auto at = [&](std::uint64_t offset) {
    return bytes.begin() + static_cast<std::ptrdiff_t>(offset);
  };
  std::fill_n(at(image::kLuks2BinaryHeaderSize), area, 0);
  std::copy(text.begin(), text.end(), at(image::kLuks2BinaryHeaderSize));
  std::fill_n(at(layout::kChecksumOffset), layout::kChecksumSize, 0);
  SHA256(bytes.data(), header.header_size, bytes.data() + layout::kChecksumOffset);
  write_file_atomic(image, bytes);
}

}  // namespace cvmsim::lab
