// LUKS2 headers as the host can write them (docs/formats.md, "Encrypted image"). The input
// is the JSON metadata area; the harness puts it behind a valid binary header and reseals
// the SHA-256 checksum, as a host editing an image does, so the fuzzer explores the JSON
// rather than a checksum it cannot guess. Everything the PSP and `cvmsim inspect` do with a
// header may only refuse with a named error: parse it, describe it, and look up the
// certificate tokens for three chips.
#include <openssl/sha.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "fuzz_check.h"
#include "image/describe.h"
#include "image/luks2.h"
#include "image/luks2_build.h"
#include "image/luks2_layout.h"

using namespace cvmsim;

namespace {

// A genuine binary header (built once), whose JSON area each input replaces.
const Bytes& genuine_header() {
  static const Bytes header = [] {
    image::Luks2Volume v;
    v.uuid = image::random_uuid();
    v.header_size = image::kLuks2MinHeaderSize;
    v.data_offset = image::luks2_data_offset_for(v.header_size);
    v.data_length = 1 << 20;
    v.volume_key = Bytes(64, 7);
    Bytes both = image::build_luks2_headers(v);
    both.resize(v.header_size);  // the primary header only
    return both;
  }();
  return header;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace layout = image::luks2_layout;
  Bytes header = genuine_header();
  const std::size_t area = header.size() - image::kLuks2BinaryHeaderSize;
  if (size > area) return 0;
  std::fill(header.begin() + static_cast<std::ptrdiff_t>(image::kLuks2BinaryHeaderSize),
            header.end(), 0);
  std::copy_n(data, size,
              header.begin() + static_cast<std::ptrdiff_t>(image::kLuks2BinaryHeaderSize));
  std::fill_n(header.begin() + layout::kChecksumOffset, layout::kChecksumSize, 0);
  SHA256(header.data(), header.size(), header.data() + layout::kChecksumOffset);
  fuzz::refuse_only_with<Error>([&] {
    const image::Luks2Header parsed = image::parse_luks2_header(header, "fuzz.img");
    (void)image::describe_image(parsed, "fuzz.img");
    for (std::uint8_t chip = 0; chip < 3; ++chip) {
      fuzz::refuse_only_with<Error>(
          [&] { (void)image::certificates_for_chip(parsed, Bytes(16, chip)); });
    }
  });
  return 0;
}
