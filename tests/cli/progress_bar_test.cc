// The progress line's content: share, amounts, rate and time left or taken.
#include "cli/progress_bar.h"

#include <gtest/gtest.h>

namespace cvmsim::cli {
namespace {

TEST(ProgressBar, RendersShareRateAndEta) {
  constexpr std::uint64_t kMiB = 1 << 20;
  EXPECT_EQ(ProgressBar::render("packing", ProgressBar::Unit::bytes, 50 * kMiB, 100 * kMiB, 2.0),
            "packing [############............]  50% 50.0 MiB of 100.0 MiB, 25.0 MiB/s, ETA 0:02");
  EXPECT_EQ(ProgressBar::render("attack runs", ProgressBar::Unit::runs, 45, 45, 75.0),
            "attack runs [########################] 100% 45 of 45, 1/s, in 1:15");
  EXPECT_EQ(ProgressBar::render("x", ProgressBar::Unit::runs, 0, 10, 0.0),
            "x [........................]   0% 0 of 10, 0/s, ETA --:--");
  // Nothing to do is done; more than the total counts as the total.
  EXPECT_NE(ProgressBar::render("x", ProgressBar::Unit::runs, 0, 0, 0.0).find("100%"),
            std::string::npos);
  EXPECT_NE(ProgressBar::render("x", ProgressBar::Unit::runs, 12, 10, 1.0).find("10 of 10"),
            std::string::npos);
}

TEST(ProgressBar, PrintsNothingWhenNotATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    ProgressBar bar("packing", ProgressBar::Unit::bytes, file);
    bar.update(1, 2);
    bar.update(2, 2);
  }
  EXPECT_EQ(std::ftell(file), 0L);
  std::fclose(file);
}

}  // namespace
}  // namespace cvmsim::cli
