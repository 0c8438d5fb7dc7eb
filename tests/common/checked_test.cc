#include "common/checked.h"

#include <gtest/gtest.h>

#include <limits>

namespace cvmsim {
namespace {

TEST(Checked, DetectsWrapAround) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(add_checked<std::uint64_t>(1, 2), 3u);
  EXPECT_FALSE(add_checked<std::uint64_t>(kMax, 1).has_value());
  EXPECT_FALSE(mul_checked<std::uint64_t>(kMax / 2 + 1, 2).has_value());
  EXPECT_EQ(mul_checked<std::uint64_t>(4096, 1000), 4096000u);
  try {
    (void)add_or_throw<std::uint64_t>(kMax, 5, "gpa + size");
    FAIL();
  } catch (const CommonError& e) {
    EXPECT_EQ(e.code(), CommonErrc::overflow);
    EXPECT_NE(std::string(e.what()).find("gpa + size"), std::string::npos);
  }
}

}  // namespace
}  // namespace cvmsim
