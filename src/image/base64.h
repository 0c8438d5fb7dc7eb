// Base64 (RFC 4648, standard alphabet, padded) as LUKS2 JSON uses it for salts, digests
// and, here, the image certificates in tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace cvmsim::image {

std::string base64_encode(ByteView data);
// Strict: the length is a multiple of 4, padding only at the end, no whitespace, and the
// unused bits of the last symbol are zero (one encoding per byte string). nullopt if not.
std::optional<Bytes> base64_decode(std::string_view text);

}  // namespace cvmsim::image
