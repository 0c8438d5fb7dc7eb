// Each command group registers its subcommands on the root app. A command's callback
// throws cvmsim::Error on failure; main() turns errors into messages and exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace cvmsim::cli {

// Thrown by a command callback to end with a specific exit code after it printed its
// own report (e.g. a verifier that printed FAIL lines).
struct ExitWith {
  int code;
};

void register_crypto_commands(CLI::App& app);    // selftest / hash helpers
void register_identity_commands(CLI::App& app);  // vendor, chip, provider
void register_measure_commands(CLI::App& app);   // measure, sign-reference
void register_inspect_command(CLI::App& app);    // inspect
void register_demo_command(CLI::App& app);       // demo
void register_run_command(CLI::App& app);        // run
void register_disk_commands(CLI::App& app);      // mkdisk, guest list/export
void register_image_commands(CLI::App& app);     // pack
void register_verify_command(CLI::App& app);     // verify
void register_attack_commands(CLI::App& app);    // attack list/run/all
void register_trace_commands(CLI::App& app);     // trace show/diagram/diff/digest
void register_explore_command(CLI::App& app);    // explore (bounded host sequences)

}  // namespace cvmsim::cli
