// The host's power over an image file: rewriting the unauthenticated LUKS2 JSON of the
// primary header and resealing its sha256 checksum, as anyone holding the file can. The
// attack scenarios and the hardening tests use it to hand the PSP host-edited tokens.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

namespace cvmsim::lab {

// Parses the primary header of `image`, lets `edit` change its JSON, writes the JSON
// back (NUL-padded) and recomputes the checksum. Throws ImageError{bad_header} when the
// file has no valid header and ImageError{bad_input} when the edited JSON does not fit.
void rewrite_luks2_metadata(const std::filesystem::path& image,
                            const std::function<void(nlohmann::json&)>& edit);

}  // namespace cvmsim::lab
