// Offsets of the LUKS2 binary header (big-endian fields; cryptsetup's on-disk-format-luks2
// document, section 2), shared by the writer and the parser.
#pragma once

#include <cstddef>
#include <string_view>

namespace cvmsim::image::luks2_layout {

inline constexpr std::string_view kMagicPrimary{"LUKS\xba\xbe", 6};
inline constexpr std::string_view kMagicSecondary{"SKUL\xba\xbe", 6};
inline constexpr std::size_t kVersionOffset = 6;     // u16
inline constexpr std::size_t kHeaderSizeOffset = 8;  // u64
inline constexpr std::size_t kSeqidOffset = 16;      // u64
inline constexpr std::size_t kLabelOffset = 24;
inline constexpr std::size_t kLabelSize = 48;
inline constexpr std::size_t kChecksumAlgOffset = 72;
inline constexpr std::size_t kChecksumAlgSize = 32;
inline constexpr std::size_t kSaltOffset = 104;
inline constexpr std::size_t kSaltSize = 64;
inline constexpr std::size_t kUuidOffset = 168;
inline constexpr std::size_t kUuidTextSize = 40;
inline constexpr std::size_t kSubsystemOffset = 208;
inline constexpr std::size_t kSubsystemSize = 48;
inline constexpr std::size_t kHdrOffsetOffset = 256;  // u64
inline constexpr std::size_t kChecksumOffset = 448;
inline constexpr std::size_t kChecksumSize = 64;

}  // namespace cvmsim::image::luks2_layout
