#include "vmm/frame_allocator.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace cvmsim::vmm {
namespace {

TEST(FrameAllocator, AllocatesContiguousRunsAndCoalescesOnFree) {
  FrameAllocator alloc(0x100000, 16);
  auto a = alloc.allocate(4);
  auto b = alloc.allocate(4);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->hpa, 0x100000u);
  EXPECT_EQ(b->hpa, 0x104000u);
  EXPECT_EQ(alloc.free_frames(), 8u);
  alloc.free(*a);
  alloc.free(*b);
  EXPECT_EQ(alloc.free_frames(), 16u);
  // After coalescing the whole range is one run again.
  auto all = alloc.allocate(16);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->hpa, 0x100000u);
  EXPECT_FALSE(alloc.allocate(1));
}

TEST(FrameAllocator, RefusesDoubleAndForeignFrees) {
  FrameAllocator alloc(0, 8);
  auto a = alloc.allocate(2);
  ASSERT_TRUE(a);
  alloc.free(*a);
  EXPECT_THROW(alloc.free(*a), std::invalid_argument);
  EXPECT_THROW(alloc.free({8 * kFrameSize, 1}), std::invalid_argument);
  EXPECT_THROW(alloc.free({123, 1}), std::invalid_argument);
  EXPECT_THROW(alloc.free({~std::uint64_t{0} & ~std::uint64_t{0xfff}, 4}), std::invalid_argument);
  EXPECT_EQ(alloc.free_frames(), 8u);
}

TEST(FrameAllocator, AlignedRunsStartAtTheAlignmentAndKeepTheGapFree) {
  constexpr std::uint64_t k2M = 2ull << 20;
  FrameAllocator alloc(0x101000, 2 * 512);  // 4 MiB from 1 MiB + 4 KiB: unaligned
  const auto huge = alloc.allocate_aligned(512, k2M);
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->hpa, k2M);
  EXPECT_EQ(huge->frames, 512u);
  EXPECT_EQ(alloc.free_frames(), 512u);
  // The frames skipped before the aligned run stay free, first fit as before.
  const auto low = alloc.allocate(1);
  ASSERT_TRUE(low);
  EXPECT_EQ(low->hpa, 0x101000u);
  // What is left after the first aligned run cannot hold a second whole aligned one.
  EXPECT_FALSE(alloc.allocate_aligned(512, k2M));
  EXPECT_FALSE(alloc.allocate_aligned(1, 3 * kFrameSize)) << "alignment not a power of two";
  EXPECT_FALSE(alloc.allocate_aligned(1, 512)) << "alignment below a frame";
  alloc.free(*huge);
  alloc.free(*low);
  EXPECT_EQ(alloc.free_frames(), alloc.total_frames());
  const auto all = alloc.allocate(2 * 512);
  ASSERT_TRUE(all) << "frees coalesce the split runs again";
  EXPECT_EQ(all->hpa, 0x101000u);
}

TEST(FrameAllocator, SparseTerabyteCostsPerRunNotPerFrame) {
  FrameAllocator alloc(0, (1ull << 40) / kFrameSize);
  std::mt19937_64 rng(3);
  std::set<std::uint64_t> seen;
  std::vector<FrameRun> runs;
  for (int i = 0; i < 1000; ++i) {
    auto run = alloc.allocate(1 + rng() % 8);
    ASSERT_TRUE(run);
    for (std::uint64_t f = 0; f < run->frames; ++f) {
      EXPECT_TRUE(seen.insert(run->hpa + f * kFrameSize).second) << "frame handed out twice";
    }
    runs.push_back(*run);
  }
  std::shuffle(runs.begin(), runs.end(), rng);
  for (const auto& r : runs) alloc.free(r);
  EXPECT_EQ(alloc.free_frames(), alloc.total_frames());
}

}  // namespace
}  // namespace cvmsim::vmm
