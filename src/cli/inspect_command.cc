// cvmsim inspect: explains any artifact the tools make, from its contents (not its name).
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/inspectors.h"
#include "cli/output.h"
#include "common/common_error.h"
#include "common/file_io.h"

namespace cvmsim::cli {
namespace {

struct InspectOptions {
  std::string path;
  OutputFormat format = OutputFormat::text;
};

void print_text(const nlohmann::ordered_json& doc, int indent) {
  for (const auto& [key, value] : doc.items()) {
    if (value.is_object()) {
      fmt::print("{:{}}{}:\n", "", indent, key);
      print_text(value, indent + 2);
    } else if (value.is_array()) {
      fmt::print("{:{}}{}:\n", "", indent, key);
      for (const auto& item : value) {
        if (item.is_object()) {
          fmt::print("{:{}}-\n", "", indent + 2);
          print_text(item, indent + 4);
        } else {
          fmt::print("{:{}}- {}\n", "", indent + 2,
                     item.is_string() ? item.get<std::string>() : item.dump());
        }
      }
    } else {
      fmt::print("{:{}}{}: {}\n", "", indent, key,
                 value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
}

void run_inspect(const InspectOptions& o) {
  const std::filesystem::path path(o.path);
  std::error_code ec;
  const bool directory = std::filesystem::is_directory(path, ec);
  if (ec) {
    throw CommonError(CommonErrc::io, fmt::format("cannot read {}: {}", o.path, ec.message()));
  }
  const nlohmann::ordered_json doc =
      directory             ? inspect_directory(path)
      : is_image_file(path) ? inspect_image_file(path)
                            : inspect_file(read_file(path, kMaxInspectedFile), path.string());
  if (o.format == OutputFormat::json) {
    print_ordered_json(doc);
  } else {
    print_text(doc, 0);
  }
}

}  // namespace

void register_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Explain an artifact: reference, key, certificate chain, identity directory");
  cmd->add_option("FILE", options->path, "File or identity directory")
      ->required()
      ->check(CLI::ExistingPath);
  add_output_option(*cmd, options->format);
  cmd->callback([options] { run_inspect(*options); });
}

}  // namespace cvmsim::cli
