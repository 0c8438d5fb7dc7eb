// Shell snippets kept in the docs, so that a test can run exactly what a reader copies.
#pragma once

#include <filesystem>
#include <string>

namespace cvmsim::test {

// The body of the ```sh block that follows the line `<!-- MARKER -->` in `document`, or ""
// when the document has no such marker.
std::string documented_snippet(const std::filesystem::path& document, const std::string& marker);

}  // namespace cvmsim::test
