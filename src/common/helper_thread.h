// One persistent worker thread that runs one job at a time for its owner: post() hands it
// a job, wait() blocks until the job is done and rethrows what it threw. Starting a thread
// per job costs tens of microseconds, more than splitting a 1 MiB decryption in two saves
// (docs/benchmarks.md, "Guest disk reads").
//
// Both sides spin briefly (yielding) before they sleep: the helper after a job, for the
// next one; the owner in wait(), for the job's end. A sleeping thread on a virtual machine
// took 60-120 us to wake, as long as the helper's share of a 1 MiB transfer, and the
// owner's next job follows within a few hundred microseconds when a guest streams reads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace cvmsim {

class HelperThread {
 public:
  HelperThread();
  HelperThread(const HelperThread&) = delete;
  HelperThread& operator=(const HelperThread&) = delete;
  ~HelperThread();  // finishes a posted job, then stops the thread

  // Starts `job` on the helper. At most one job at a time: wait() for it before the next.
  void post(std::function<void()> job);
  // Blocks until the posted job has finished; rethrows its exception. No-op without one.
  void wait();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable posted_;
  std::condition_variable finished_;
  std::function<void()> job_;
  bool pending_ = false;                   // a job was posted and not yet waited for
  std::atomic<bool> running_ = false;      // the helper has the job and has not finished it
  std::atomic<bool> posted_flag_ = false;  // a job is waiting for the helper to take it
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once the state above exists
};

}  // namespace cvmsim
