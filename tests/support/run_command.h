// Runs a program (usually build/bin/cvmsim or openssl) and captures what it printed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace cvmsim::test {

struct CommandResult {
  int exit_code = -1;      // 128 + signal when killed
  bool timed_out = false;  // killed after the time limit (see run_cli_within)
  std::string out;         // stdout
  std::string err;         // stderr
};

// Runs `argv` directly (no shell). argv[0] is looked up in PATH if it has no slash.
CommandResult run_command(const std::vector<std::string>& argv);

// Runs `argv`, killing it (SIGKILL) when it has not ended within `limit`.
CommandResult run_command_within(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds limit);

// Runs the cvmsim CLI built next to the tests (or the one $CVMSIM_TEST_CLI names) with
// `args`.
CommandResult run_cli(const std::vector<std::string>& args);
// The same with a time limit, for commands that could block (a FIFO given as input).
CommandResult run_cli_within(const std::vector<std::string>& args, std::chrono::milliseconds limit);

}  // namespace cvmsim::test
