// Whole-file reads with a size limit and crash-safe writes.
//
// Writes go to a temporary file in the destination's directory, are fsynced and then
// renamed over the destination, so a failed operation never leaves a half-written file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/bytes.h"

namespace cvmsim {

inline constexpr std::uint64_t kDefaultMaxFileSize = 64ull << 20;

// Throws CommonError{io} (with the path and the OS reason) or {too_large}.
Bytes read_file(const std::filesystem::path& path, std::uint64_t max_size = kDefaultMaxFileSize);
std::string read_text_file(const std::filesystem::path& path,
                           std::uint64_t max_size = kDefaultMaxFileSize);

// Atomically replaces `path`. `mode` is the permission of the new file (0600 for secrets).
void write_file_atomic(const std::filesystem::path& path, ByteView contents,
                       unsigned mode = 0644);
void write_text_file_atomic(const std::filesystem::path& path, std::string_view contents,
                            unsigned mode = 0644);

}  // namespace cvmsim
