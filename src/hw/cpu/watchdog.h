// The host safety net of a vCPU: while armed, calls `expire` (on its own thread) once the
// deadline passes; the guest CPU raises a flag that its block hook checks, so the guest
// stops at the next translation-block start. One thread per vCPU; arming and disarming
// take a mutex, so `expire` cannot run after disarm() returns.
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
  explicit Watchdog(std::function<void()> expire);
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog();

  void arm(Clock::time_point deadline);
  void disarm();

 private:
  void loop(const std::stop_token& stop);

  std::function<void()> expire_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool armed_ = false;
  Clock::time_point deadline_{};
  // When the thread will next look: arm() wakes it only when it must (it is idle, or the
  // new deadline is earlier), so back-to-back runs with growing deadlines cost no system
  // call and no context switch.
  Clock::time_point sleeping_until_ = Clock::time_point::max();
  std::jthread thread_;
};

}  // namespace cvmsim::hw::cpu
