#include "common/binary.h"

#include <fmt/format.h>

#include "common/common_error.h"

namespace cvmsim {

void ByteWriter::fixed(ByteView v, std::size_t width) {
  if (v.size() > width) {
    throw CommonError(CommonErrc::too_large,
                      fmt::format("field of {} bytes does not fit in {}", v.size(), width));
  }
  bytes(v);
  zeros(width - v.size());
}

ByteView ByteReader::bytes(std::string_view field, std::size_t count) {
  if (count > remaining()) {
    fail(field, fmt::format("need {} bytes, only {} left (truncated?)", count, remaining()));
  }
  const ByteView out = data_.subspan(offset_, count);
  offset_ += count;
  return out;
}

ByteView ByteReader::fixed(std::string_view field, std::size_t width, std::size_t used) {
  const std::size_t at = offset_;
  const ByteView all = bytes(field, width);
  for (std::size_t i = used; i < width; ++i) {
    if (all[i] != 0) {
      offset_ = at;
      fail(field,
           fmt::format("byte {} of the padding is {:#04x}; padding must be zero", i, all[i]));
    }
  }
  return all.first(used);
}

void ByteReader::expect_end() const {
  if (remaining() != 0) {
    throw CommonError(CommonErrc::bad_encoding,
                      fmt::format("{}: {} unexpected trailing bytes at offset {}", source_,
                                  remaining(), offset_));
  }
}

void ByteReader::fail(std::string_view field, std::string_view problem) const {
  fail_at(field, offset_, problem);
}

void ByteReader::fail_at(std::string_view field, std::size_t field_offset,
                         std::string_view problem) const {
  throw CommonError(CommonErrc::bad_encoding, fmt::format("{}: field '{}' at offset {}: {}",
                                                          source_, field, field_offset, problem));
}

std::uint64_t ByteReader::le(std::string_view field, std::size_t width) {
  const ByteView b = bytes(field, width);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}

}  // namespace cvmsim
