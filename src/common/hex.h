// Hex encoding for keys, digests and nonces on command lines and in JSON.
#pragma once

#include <string>
#include <string_view>

#include "common/bytes.h"

namespace cvmsim {

std::string to_hex(ByteView bytes);

// Accepts upper/lower case and an optional "0x" prefix. Throws CommonError{bad_encoding}
// naming `what` and the offending position.
Bytes from_hex(std::string_view text, std::string_view what = "hex string");

}  // namespace cvmsim
