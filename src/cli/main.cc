// cvmsim: the command-line front end. Subcommands live in one file per group.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <filesystem>

#include "cli/cli_error.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "common/error.h"

int main(int argc, char** argv) {
  using namespace cvmsim::cli;
  CLI::App app{"cvmsim: a confidential-computing server simulator and its host tools"};
  app.set_version_flag("--version", std::string(CVMSIM_VERSION));
  app.require_subcommand(1);
  app.fallthrough();

  register_identity_commands(app);
  register_measure_commands(app);
  register_image_commands(app);
  register_inspect_command(app);
  register_run_command(app);
  register_disk_commands(app);
  register_verify_command(app);
  register_demo_command(app);
  register_attack_commands(app);
  register_trace_commands(app);
  register_explore_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here too, with exit code 0 and CLI11's own output.
    if (e.get_exit_code() == 0) return app.exit(e);
    report_error("cli/usage", e.what(), kExitUsage);
    fmt::print(stderr, "cvmsim: run with --help for the options\n");
    return kExitUsage;
  } catch (const ExitWith& e) {
    return e.code;
  } catch (const cvmsim::Error& e) {
    report_error(e.id(), e.what(), kExitError);
    return kExitError;
  } catch (const std::filesystem::filesystem_error& e) {
    // A file-system failure is an input or environment error (it names the path), not a
    // defect; the commands report their own, this catches what they do not foresee.
    report_error("common/io", e.what(), kExitError);
    return kExitError;
  } catch (const std::exception& e) {
    // A defect: say so plainly (tests look for these words), still in the documented form.
    report_error("cli/internal_error", fmt::format("internal error: {}", e.what()), kExitError);
    return kExitError;
  }
  return kExitOk;
}
