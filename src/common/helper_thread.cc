#include "common/helper_thread.h"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace cvmsim {
namespace {

// How long each side spins before it sleeps (see the header): the helper for a next job,
// the owner for the end of the current one.
constexpr auto kSpinForJob = std::chrono::microseconds(500);
constexpr auto kSpinForEnd = std::chrono::milliseconds(2);

template <class Ready>
void spin_until(Ready ready, std::chrono::steady_clock::duration budget) {
  const auto until = std::chrono::steady_clock::now() + budget;
  while (!ready() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
}

}  // namespace

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
    posted_flag_.store(true, std::memory_order_release);
  }
  posted_.notify_one();
}

void HelperThread::wait() {
  spin_until([this] { return !running_.load(std::memory_order_acquire); }, kSpinForEnd);
  std::unique_lock lock(mutex_);
  if (!pending_) return;
  finished_.wait(lock, [this] { return !running_; });
  pending_ = false;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void HelperThread::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!stop_ && !job_) {
      lock.unlock();
      spin_until([this] { return posted_flag_.load(std::memory_order_acquire); }, kSpinForJob);
      lock.lock();
    }
    posted_.wait(lock, [this] { return stop_ || (running_ && job_); });
    if (stop_) return;
    posted_flag_.store(false, std::memory_order_relaxed);
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
