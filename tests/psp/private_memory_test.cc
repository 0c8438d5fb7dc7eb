#include "psp/private_memory.h"

#include <gtest/gtest.h>

namespace cvmsim::psp {
namespace {

TEST(PrivateMemory, AccountsPerOwnerAndRefusesBeyondTheBudget) {
  PrivateMemory memory(1000);
  PrivateMemory::Allocation a;
  PrivateMemory::Allocation b;
  ASSERT_TRUE(memory.try_allocate(1, 600, a));
  EXPECT_FALSE(memory.try_allocate(2, 401, b));
  EXPECT_EQ(b.size(), 0u);
  ASSERT_TRUE(memory.try_allocate(2, 400, b));
  EXPECT_EQ(memory.used(), 1000u);
  EXPECT_EQ(memory.used_by(1), 600u);
  EXPECT_EQ(memory.used_by(2), 400u);
  a.release();
  EXPECT_EQ(memory.used(), 400u);
  EXPECT_EQ(memory.used_by(1), 0u);
}

TEST(PrivateMemory, AllocationsReleaseOnDestructionAndMove) {
  PrivateMemory memory(100);
  {
    PrivateMemory::Allocation outer;
    {
      PrivateMemory::Allocation inner;
      ASSERT_TRUE(memory.try_allocate(7, 60, inner));
      outer = std::move(inner);
    }
    EXPECT_EQ(memory.used_by(7), 60u);
  }
  EXPECT_EQ(memory.used(), 0u);
}

}  // namespace
}  // namespace cvmsim::psp
