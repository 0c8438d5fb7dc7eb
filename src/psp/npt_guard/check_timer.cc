#include "psp/npt_guard/check_timer.h"

#include <algorithm>
#include <limits>

#include "common/checked.h"

namespace cvmsim::psp {
namespace {

// A deadline past the end of time never fires (an interval of years is still valid input).
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return add_checked(a, b).value_or(std::numeric_limits<std::uint64_t>::max());
}

}  // namespace

void CheckTimer::configure(std::uint64_t interval, std::uint64_t now) {
  interval_ = interval;
  now_ = std::max(now_, now);
  next_ = interval == 0 ? 0 : saturating_add(now_, interval);
}

std::uint64_t CheckTimer::advance(std::uint64_t now) {
  now_ = std::max(now_, now);
  if (interval_ == 0 || now_ < next_) return 0;
  const std::uint64_t due = (now_ - next_) / interval_ + 1;
  const std::uint64_t step =
      mul_checked(due, interval_).value_or(std::numeric_limits<std::uint64_t>::max());
  next_ = saturating_add(next_, step);
  ticks_ += due;
  return due;
}

}  // namespace cvmsim::psp
