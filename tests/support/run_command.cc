#include "support/run_command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "support/temp_dir.h"

extern char** environ;  // NOLINT: POSIX global

namespace cvmsim::test {
namespace {

std::string slurp(int fd) {
  std::string out;
  std::array<char, 4096> buffer{};
  lseek(fd, 0, SEEK_SET);
  ssize_t n = 0;
  while ((n = ::read(fd, buffer.data(), buffer.size())) > 0) {
    out.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv) {
  return run_command_within(argv, std::chrono::milliseconds::max());
}

CommandResult run_command_within(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds limit) {
  // Output goes to temporary files rather than pipes so large outputs cannot deadlock.
  TempDir dir;
  const std::string out_path = (dir / "stdout").string();
  const std::string err_path = (dir / "stderr").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // NOLINT
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  int status = 0;
  CommandResult result;
  if (limit == std::chrono::milliseconds::max()) {
    waitpid(pid, &status, 0);
  } else {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);  // our own child, which has not been reaped
        waitpid(pid, &status, 0);
        result.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const int out_fd = ::open(out_path.c_str(), O_RDONLY);
  const int err_fd = ::open(err_path.c_str(), O_RDONLY);
  result.out = slurp(out_fd);
  result.err = slurp(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return result;
}

namespace {

// The CLI under test: the one built next to the tests, or $CVMSIM_TEST_CLI (to run the
// suite against another build, e.g. to see a new test fail on the code before a fix).
std::string cli_path() {
  const char* other = std::getenv("CVMSIM_TEST_CLI");
  return other != nullptr && *other != '\0' ? other : CVMSIM_CLI_PATH;
}

}  // namespace

CommandResult run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

CommandResult run_cli_within(const std::vector<std::string>& args,
                             std::chrono::milliseconds limit) {
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command_within(argv, limit);
}

}  // namespace cvmsim::test
