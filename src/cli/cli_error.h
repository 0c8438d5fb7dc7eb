// Errors of the command line itself, and the one place failures are reported: stderr in
// the documented form `cvmsim: error [module/code]: message`, and with `-o json` also a
// JSON error object on stdout, so a script that asked for JSON always gets JSON
// (docs/cli.md, "Errors").
#pragma once

#include <string_view>

#include "common/error.h"

namespace cvmsim::cli {

enum class CliErrc {
  usage,      // the command line is wrong (exit code 2)
  no_report,  // a run asked for an attestation report and the guest returned none
};

constexpr std::string_view error_module_name(CliErrc) {
  return "cli";
}
std::string_view error_code_name(CliErrc code);

using CliError = ModuleError<CliErrc>;

// Called when a command's `-o` selects JSON: from then on failures also print a JSON
// error object on stdout.
void request_json_errors();

// Prints the failure (see above). `id` is "module/code".
void report_error(std::string_view id, std::string_view message, int exit_code);

}  // namespace cvmsim::cli
