// The platform's simulated clock (docs/architecture.md, "Simulated time"). It advances only
// by fixed, documented costs of what the simulated machine does (executed guest code, VM
// exits), never by the host clock, so the same inputs give the same times on any machine
// under any load.
#pragma once

#include <cstdint>

namespace cvmsim {

class SimClock {
 public:
  [[nodiscard]] std::uint64_t now_ns() const noexcept { return now_ns_; }
  [[nodiscard]] std::uint64_t now_us() const noexcept { return now_ns_ / 1000; }
  void advance_ns(std::uint64_t ns) noexcept { now_ns_ += ns; }

 private:
  std::uint64_t now_ns_ = 0;
};

}  // namespace cvmsim
