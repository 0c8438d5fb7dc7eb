#include "common/helper_thread.h"

#include <stdexcept>
#include <utility>

namespace cvmsim {

HelperThread::HelperThread() : thread_([this] { loop(); }) {}

HelperThread::~HelperThread() {
  {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [this] { return !running_; });
    stop_ = true;
  }
  posted_.notify_one();
  thread_.join();
}

void HelperThread::post(std::function<void()> job) {
  {
    const std::lock_guard lock(mutex_);
    if (pending_) throw std::logic_error("HelperThread::post: the previous job was not waited for");
    job_ = std::move(job);
    pending_ = true;
    running_ = true;
    error_ = nullptr;
  }
  posted_.notify_one();
}

void HelperThread::wait() {
  std::unique_lock lock(mutex_);
  if (!pending_) return;
  finished_.wait(lock, [this] { return !running_; });
  pending_ = false;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void HelperThread::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    posted_.wait(lock, [this] { return stop_ || (running_ && job_); });
    if (stop_) return;
    std::function<void()> job = std::exchange(job_, nullptr);
    lock.unlock();
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    running_ = false;
    finished_.notify_all();
  }
}

}  // namespace cvmsim
