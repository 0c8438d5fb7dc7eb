// The vCPU's preemption timer: while armed, calls a stop function once its deadline passes
// (Unicorn's uc_emu_stop, which may be called from another thread and takes effect at the
// next translation-block boundary). One thread per vCPU; arming and disarming take a
// mutex, so no stop can land after disarm() returns.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace cvmsim::hw::cpu {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Watchdog(std::function<void()> stop);
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog();

  void arm(Clock::time_point deadline);
  void disarm();
  // True once per firing: whether the stop function ran since the last call.
  bool consume_fired();

 private:
  void loop(const std::stop_token& stop);

  std::function<void()> stop_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool armed_ = false;
  bool fired_ = false;
  Clock::time_point deadline_{};
  // When the thread will next look: arm() wakes it only when it must (it is idle, or the
  // new deadline is earlier), so back-to-back runs with growing deadlines cost no system
  // call and no context switch.
  Clock::time_point sleeping_until_ = Clock::time_point::max();
  std::jthread thread_;
};

}  // namespace cvmsim::hw::cpu
