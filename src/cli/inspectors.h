// Recognisers behind `cvmsim inspect`: each looks at bytes and, if they are its kind of
// artifact, returns a JSON description (hex strings for binary fields), its keys in the
// order of the artifact's format.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/bytes.h"

namespace cvmsim::cli {

inline constexpr std::uint64_t kMaxInspectedFile = 64ull << 20;

// Throws CliError-like cvmsim::Error when the bytes are no known artifact.
nlohmann::ordered_json inspect_file(ByteView data, const std::string& source);
nlohmann::ordered_json inspect_directory(const std::filesystem::path& dir);
// An encrypted image (LUKS2), described from its header alone.
bool is_image_file(const std::filesystem::path& path);
nlohmann::ordered_json inspect_image_file(const std::filesystem::path& path);

}  // namespace cvmsim::cli
