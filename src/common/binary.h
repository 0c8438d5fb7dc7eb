// Little-endian field writer and bounds-checked reader for the project's binary formats
// (reference measurements, reports, image certificates). Every read names the field, so a
// truncated or malformed file produces "FILE: field F at offset N: need K bytes, have M".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace cvmsim {

class ByteWriter {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { put_le(v, 2); }
  void u32(std::uint32_t v) { put_le(v, 4); }
  void u64(std::uint64_t v) { put_le(v, 8); }
  void bytes(ByteView v) { append(out_, v); }
  // Writes `v` and pads with zeros to `width` bytes; throws if `v` is longer.
  void fixed(ByteView v, std::size_t width);
  void zeros(std::size_t count) { out_.insert(out_.end(), count, 0); }

  [[nodiscard]] std::size_t size() const { return out_.size(); }
  [[nodiscard]] const Bytes& data() const { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  void put_le(std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes out_;
};

// Throws CommonError{bad_encoding} with `source` (usually a file name) in the message.
class ByteReader {
 public:
  ByteReader(ByteView data, std::string source) : data_(data), source_(std::move(source)) {}

  std::uint8_t u8(std::string_view field) { return static_cast<std::uint8_t>(le(field, 1)); }
  std::uint16_t u16(std::string_view field) { return static_cast<std::uint16_t>(le(field, 2)); }
  std::uint32_t u32(std::string_view field) { return static_cast<std::uint32_t>(le(field, 4)); }
  std::uint64_t u64(std::string_view field) { return le(field, 8); }
  ByteView bytes(std::string_view field, std::size_t count);
  // Reads `width` bytes of which the first `used` are returned; the rest must be zero.
  ByteView fixed(std::string_view field, std::size_t width, std::size_t used);
  void expect_zero(std::string_view field, std::size_t count) { (void)fixed(field, count, 0); }
  // Fails unless every byte was consumed.
  void expect_end() const;

  [[nodiscard]] std::size_t offset() const { return offset_; }
  [[nodiscard]] std::size_t remaining() const { return data_.size() - offset_; }
  [[nodiscard]] const std::string& source() const { return source_; }
  // Fails naming `field` at the current offset: for a field not read yet.
  [[noreturn]] void fail(std::string_view field, std::string_view problem) const;
  // Fails naming `field` at `field_offset`: for a value judged after it was read (the
  // current offset is then past it).
  [[noreturn]] void fail_at(std::string_view field, std::size_t field_offset,
                            std::string_view problem) const;

 private:
  std::uint64_t le(std::string_view field, std::size_t width);

  ByteView data_;
  std::string source_;
  std::size_t offset_ = 0;
};

}  // namespace cvmsim
