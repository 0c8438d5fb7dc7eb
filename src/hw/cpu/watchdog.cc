#include "hw/cpu/watchdog.h"

namespace cvmsim::hw::cpu {

Watchdog::Watchdog(std::function<void()> expire)
    : expire_(std::move(expire)), thread_([this](const std::stop_token& token) { loop(token); }) {}

Watchdog::~Watchdog() {
  thread_.request_stop();
  wake_.notify_all();
}

void Watchdog::arm(Clock::time_point deadline) {
  bool wake = false;
  {
    const std::scoped_lock lock(mutex_);
    armed_ = true;
    deadline_ = deadline;
    wake = deadline < sleeping_until_;
  }
  if (wake) wake_.notify_one();
}

void Watchdog::disarm() {
  const std::scoped_lock lock(mutex_);
  armed_ = false;  // the thread is not woken: it finds out when its sleep ends
}

void Watchdog::loop(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    const Clock::time_point now = Clock::now();
    if (armed_ && now >= deadline_) {
      expire_();
      armed_ = false;
    }
    // Sleep until the last deadline seen, even when disarmed meanwhile: a vCPU that runs
    // again soon re-arms with a later deadline, which then costs no wake-up at all. Only
    // an earlier deadline, or an arm after the thread went idle, wakes it.
    const bool idle = !armed_ && now >= deadline_;
    sleeping_until_ = idle ? Clock::time_point::max() : deadline_;
    const auto woken = [this] { return armed_ && deadline_ < sleeping_until_; };
    if (idle) {
      wake_.wait(lock, stop, woken);
    } else {
      wake_.wait_until(lock, stop, sleeping_until_, woken);
    }
  }
}

}  // namespace cvmsim::hw::cpu
