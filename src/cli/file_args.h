// Checks on the files a command line names, shared by the commands.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace cvmsim::cli {

// One input a command reads: its option (for the message) and path. A directory stands
// for every file under it (identity directories).
struct InputArg {
  std::string option;
  std::string path;
};

// Outputs never overwrite inputs: throws CLI::ValidationError (exit code 2, nothing
// written) when `output` is the same file as an input or as a file under an input
// directory, however it is spelled (hard links, symlinks, `./`): compared by device and
// inode. An output that does not exist yet cannot be an input.
void refuse_output_over_inputs(const std::string& output_option, const std::string& output,
                               const std::vector<InputArg>& inputs);

}  // namespace cvmsim::cli
