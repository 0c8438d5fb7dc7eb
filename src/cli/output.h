// `-o text|json` handling shared by every subcommand whose output is data.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace cvmsim::cli {

enum class OutputFormat { text, json };

// Adds `-o,--output text|json` to `command`, storing into `format`.
void add_output_option(CLI::App& command, OutputFormat& format);

// Prints `document` as indented JSON followed by a newline.
void print_json(const nlohmann::json& document);
// The same, keeping the document's key order (a format's field order).
void print_ordered_json(const nlohmann::ordered_json& document);

}  // namespace cvmsim::cli
