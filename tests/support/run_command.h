// Runs a program (usually build/bin/cvmsim or openssl) and captures what it printed.
#pragma once

#include <string>
#include <vector>

namespace cvmsim::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `argv` directly (no shell). argv[0] is looked up in PATH if it has no slash.
CommandResult run_command(const std::vector<std::string>& argv);

// Runs the cvmsim CLI built next to the tests with `args`.
CommandResult run_cli(const std::vector<std::string>& args);

}  // namespace cvmsim::test
