#include "cli/cli_error.h"

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace cvmsim::cli {
namespace {

bool g_json_errors = false;  // one command per process: set once while parsing

}  // namespace

std::string_view error_code_name(CliErrc code) {
  switch (code) {
    case CliErrc::usage:
      return "usage";
    case CliErrc::no_report:
      return "no_report";
  }
  return "unknown";
}

void request_json_errors() {
  g_json_errors = true;
}

void report_error(std::string_view id, std::string_view message, int exit_code) {
  std::fflush(stdout);  // whatever the command printed comes first when both are piped
  fmt::print(stderr, "cvmsim: error [{}]: {}\n", id, message);
  if (!g_json_errors) return;
  const std::string full(id);
  const auto slash = full.find('/');
  const nlohmann::json error{{"error",
                              {{"id", full},
                               {"module", full.substr(0, slash)},
                               {"code", slash == std::string::npos ? "" : full.substr(slash + 1)},
                               {"message", message},
                               {"exit_code", exit_code}}}};
  fmt::print("{}\n", error.dump(2));
  std::fflush(stdout);
}

}  // namespace cvmsim::cli
