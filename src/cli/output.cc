#include "cli/output.h"

#include <fmt/core.h>

#include <map>

namespace cvmsim::cli {

void add_output_option(CLI::App& command, OutputFormat& format) {
  const std::map<std::string, OutputFormat> names{{"text", OutputFormat::text},
                                                  {"json", OutputFormat::json}};
  command.add_option("-o,--output", format, "Output format: text or json")
      ->transform(CLI::CheckedTransformer(names, CLI::ignore_case))
      ->default_str("text");
}

void print_json(const nlohmann::json& document) { fmt::print("{}\n", document.dump(2)); }

}  // namespace cvmsim::cli
