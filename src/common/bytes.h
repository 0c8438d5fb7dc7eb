// Byte buffers shared by every layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace cvmsim {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

inline ByteView as_bytes(std::string_view text) {
  // Reinterpreting char as uint8_t is the one sanctioned aliasing case.
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};  // NOLINT
}

inline Bytes to_bytes(ByteView view) {
  return {view.begin(), view.end()};
}

inline void append(Bytes& out, ByteView more) {
  out.insert(out.end(), more.begin(), more.end());
}

// Constant-time comparison for secrets and MACs.
bool equal_constant_time(ByteView a, ByteView b);

// Whether `needle` occurs in `haystack` (text looked for in a binary file or guest output).
bool contains(ByteView haystack, std::string_view needle);

// Whether every byte is zero (not constant-time: for public data such as table pages).
bool all_zero(ByteView bytes);

// Overwrites a buffer holding key material in a way the optimiser may not drop.
void secure_wipe(MutableByteView bytes);

}  // namespace cvmsim
