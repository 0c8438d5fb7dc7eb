#include "cli/file_args.h"

#include <fmt/format.h>

#include <filesystem>

#include "common/file_io.h"

namespace cvmsim::cli {
namespace {

namespace fs = std::filesystem;

// Identity directories hold a handful of files; a larger tree is not an input we list.
constexpr std::size_t kMaxDirectoryEntries = 256;

[[noreturn]] void refuse(const std::string& output_option, const std::string& output,
                         const InputArg& input, const std::string& file) {
  throw CLI::ValidationError(
      output_option,
      fmt::format("{} is the same file as {} {}{}: an output never replaces an input; "
                  "choose another path",
                  output, input.option, input.path, file == input.path ? "" : " (" + file + ")"));
}

}  // namespace

void refuse_output_over_inputs(const std::string& output_option, const std::string& output,
                               const std::vector<InputArg>& inputs) {
  std::error_code ec;
  if (output.empty() || !fs::exists(output, ec)) return;
  for (const InputArg& input : inputs) {
    if (input.path.empty()) continue;
    if (same_file(output, input.path)) refuse(output_option, output, input, input.path);
    if (!fs::is_directory(input.path, ec)) continue;
    std::size_t seen = 0;
    for (auto it = fs::recursive_directory_iterator(input.path, ec);
         !ec && it != fs::recursive_directory_iterator() && seen < kMaxDirectoryEntries;
         it.increment(ec), ++seen) {
      if (same_file(output, it->path())) refuse(output_option, output, input, it->path().string());
    }
  }
}

}  // namespace cvmsim::cli
