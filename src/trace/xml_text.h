// Text from a trace made safe for an XML document: whatever the bytes, the result is
// well-formed character data (or attribute value) of XML 1.0.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cvmsim::trace {

// Escapes & < > " ' and replaces what XML 1.0 does not allow (bytes that are not UTF-8,
// control characters other than tab, U+FFFE, U+FFFF) with U+FFFD. When `text` has more
// than `max_chars` characters it is cut to max_chars - 1 and ends with "…".
std::string xml_text(std::string_view text, std::size_t max_chars = std::string_view::npos);

// The number of characters xml_text would show (code points after repair), for layout.
std::size_t display_chars(std::string_view text);

}  // namespace cvmsim::trace
