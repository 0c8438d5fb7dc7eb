// The PSP timer that drives the periodic NPT check, on the platform's simulated clock.
//
// Simulated time is counted in simulated microseconds (sim-us) from platform start. The
// platform's run loop advances it by a deterministic cost per VM exit (vmm/vmm.cc,
// "simulated clock"), so the same guest and the same VMM behaviour give the same ticks on
// any machine, under any load. The timer fires every `interval` sim-us; when the clock
// jumps over several deadlines the missed ticks are all reported (the check does the
// work of each, up to one full round of the table).
#pragma once

#include <cstdint>
#include <optional>

namespace cvmsim::psp {

class CheckTimer {
 public:
  // interval 0 turns the timer off. The first tick is one interval after `now`.
  void configure(std::uint64_t interval, std::uint64_t now);
  // Moves the timer's view of the clock to `now` (never backwards) and returns how many
  // deadlines passed since the last call.
  std::uint64_t advance(std::uint64_t now);

  [[nodiscard]] std::uint64_t interval() const noexcept { return interval_; }
  [[nodiscard]] std::uint64_t now() const noexcept { return now_; }
  [[nodiscard]] std::uint64_t ticks() const noexcept { return ticks_; }
  // The time of the next tick (none while the timer is off): the platform ends a vCPU's
  // run there, as the timer interrupt would.
  [[nodiscard]] std::optional<std::uint64_t> next_deadline() const noexcept {
    return interval_ == 0 ? std::nullopt : std::optional<std::uint64_t>(next_);
  }

 private:
  std::uint64_t interval_ = 0;
  std::uint64_t now_ = 0;
  std::uint64_t next_ = 0;
  std::uint64_t ticks_ = 0;
};

}  // namespace cvmsim::psp
