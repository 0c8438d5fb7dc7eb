#include "support/documented_snippet.h"

#include "common/file_io.h"

namespace cvmsim::test {

std::string documented_snippet(const std::filesystem::path& document, const std::string& marker) {
  const std::string doc = read_text_file(document);
  const std::string start = "<!-- " + marker + " -->\n```sh\n";
  const auto begin = doc.find(start);
  if (begin == std::string::npos) return {};
  const auto body = begin + start.size();
  return doc.substr(body, doc.find("```", body) - body);
}

}  // namespace cvmsim::test
