#include "cli/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

namespace cvmsim::cli {
namespace {

constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr double kMiB = 1024.0 * 1024.0;

std::string amount(ProgressBar::Unit unit, double value) {
  return unit == ProgressBar::Unit::bytes ? fmt::format("{:.1f} MiB", value / kMiB)
                                          : fmt::format("{:.0f}", value);
}

std::string duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

ProgressBar::ProgressBar(std::string label, Unit unit, std::FILE* stream)
    : label_(std::move(label)),
      unit_(unit),
      stream_(stream),
      enabled_(::isatty(::fileno(stream)) == 1) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && drawn_ && !finished_) fmt::print(stream_, "\n");
}

std::string ProgressBar::render(std::string_view label, Unit unit, std::uint64_t done,
                                std::uint64_t total, double seconds) {
  done = std::min(done, total);
  const double share = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(share * kBarWidth);
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                          std::string(static_cast<std::size_t>(kBarWidth - filled), '.');
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  std::string tail;
  if (done == total) {
    tail = fmt::format("in {}", duration(seconds));
  } else if (rate > 0) {
    tail = fmt::format("ETA {}", duration(static_cast<double>(total - done) / rate));
  } else {
    tail = "ETA --:--";
  }
  return fmt::format("{} [{}] {:3.0f}% {} of {}, {}/s, {}", label, bar, share * 100.0,
                     amount(unit, static_cast<double>(done)),
                     amount(unit, static_cast<double>(total)), amount(unit, rate), tail);
}

void ProgressBar::update(std::uint64_t done, std::uint64_t total) {
  if (!enabled_ || finished_) return;
  const auto now = Clock::now();
  const bool complete = done >= total;
  if (!complete && drawn_ && now - last_draw_ < kRedrawInterval) return;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  // Clear to the end of the line: a shorter line must not leave the old one's tail.
  fmt::print(stream_, "\r{}\x1b[K", render(label_, unit_, done, total, seconds));
  if (complete) {
    fmt::print(stream_, "\n");
    finished_ = true;
  }
  std::fflush(stream_);
  drawn_ = true;
  last_draw_ = now;
}

}  // namespace cvmsim::cli
