#include "cli/output.h"

#include <fmt/core.h>

#include <map>
#include <string>

#include "cli/cli_error.h"

namespace cvmsim::cli {

void add_output_option(CLI::App& command, OutputFormat& format) {
  const std::map<std::string, OutputFormat> names{{"text", OutputFormat::text},
                                                  {"json", OutputFormat::json}};
  command.add_option("-o,--output", format, "Output format: text or json")
      ->transform(CLI::CheckedTransformer(names, CLI::ignore_case))
      ->each([](const std::string& value) {
        if (value == "json" || value == std::to_string(static_cast<int>(OutputFormat::json))) {
          request_json_errors();
        }
      })
      ->default_str("text");
}

void print_json(const nlohmann::json& document) {
  fmt::print("{}\n", document.dump(2));
}

void print_ordered_json(const nlohmann::ordered_json& document) {
  fmt::print("{}\n", document.dump(2));
}

}  // namespace cvmsim::cli
