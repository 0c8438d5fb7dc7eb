// A progress bar for long host work (pack, attack all) on a terminal: the share done, the
// rate and the time left, redrawn at most ten times a second on one line, and the 100%
// line printed exactly once. When the stream is not a terminal it prints nothing, so logs
// and pipes get only the command's own output. Rate and ETA use the host's clock: they
// describe the tool, never the simulation.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cvmsim::cli {

class ProgressBar {
 public:
  enum class Unit { bytes, runs };

  // Draws on `stream` (stderr by default) only when it is a terminal.
  ProgressBar(std::string label, Unit unit, std::FILE* stream = stderr);
  // Ends an unfinished bar's line (a command that failed half-way).
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of `total`; calls after the bar reached 100% are ignored.
  void update(std::uint64_t done, std::uint64_t total);

  // The line for a state, without the leading carriage return (for tests).
  [[nodiscard]] static std::string render(std::string_view label, Unit unit, std::uint64_t done,
                                          std::uint64_t total, double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  Unit unit_;
  std::FILE* stream_;
  bool enabled_;
  bool finished_ = false;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

}  // namespace cvmsim::cli
