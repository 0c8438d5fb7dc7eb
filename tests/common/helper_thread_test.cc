// HelperThread: jobs run on another thread, wait() returns after them and rethrows their
// exceptions, whether the threads spin or sleep; jobs run one at a time and the destructor
// lets a posted job finish.
#include "common/helper_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace cvmsim {
namespace {

TEST(HelperThread, RunsJobsOnAnotherThreadAndWaitsForThem) {
  HelperThread helper;
  for (int round = 0; round < 100; ++round) {
    std::thread::id ran_on;
    int value = 0;
    helper.post([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(round % 3 == 0 ? 200 : 0));
      ran_on = std::this_thread::get_id();
      value = round;
    });
    helper.wait();
    EXPECT_NE(ran_on, std::this_thread::get_id());
    EXPECT_EQ(value, round);  // visible after wait()
  }
  helper.wait();  // nothing posted: returns at once
}

// Both sides spin for a while before they sleep; jobs posted while the helper spins, after
// it has gone to sleep, and jobs that outlast the owner's spin in wait() all complete.
TEST(HelperThread, JobsRunWhetherTheHelperSpinsOrSleeps) {
  HelperThread helper;
  for (const auto gap : {std::chrono::microseconds(0), std::chrono::microseconds(100),
                         std::chrono::microseconds(5000)}) {
    for (int round = 0; round < 5; ++round) {
      std::this_thread::sleep_for(gap);  // 5 ms: past the helper's spin, so it sleeps
      int value = 0;
      helper.post([&] { value = round + 1; });
      helper.wait();
      EXPECT_EQ(value, round + 1);
    }
  }
  bool long_job_done = false;
  helper.post([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // past wait()'s spin
    long_job_done = true;
  });
  helper.wait();
  EXPECT_TRUE(long_job_done);
}

TEST(HelperThread, WaitRethrowsTheJobsExceptionAndTheHelperGoesOn) {
  HelperThread helper;
  helper.post([] { throw std::runtime_error("job failed"); });
  EXPECT_THROW(helper.wait(), std::runtime_error);
  bool ran = false;
  helper.post([&] { ran = true; });
  helper.wait();
  EXPECT_TRUE(ran);
}

TEST(HelperThread, OneJobAtATimeAndTheDestructorLetsItFinish) {
  std::atomic<bool> finished{false};
  {
    HelperThread helper;
    helper.post([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      finished = true;
    });
    EXPECT_THROW(helper.post([] {}), std::logic_error);  // the first was not waited for
  }
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace cvmsim
