#include "hw/host_memory.h"

#include <gtest/gtest.h>

#include "hw/hw_error.h"

namespace cvmsim::hw {
namespace {

TEST(HostMemory, TerabyteAddressSpaceCostsOnlyTouchedFrames) {
  HostMemory memory;  // 1 TiB
  EXPECT_EQ(memory.resident_bytes(), 0u);
  std::uint8_t* low = memory.frame(0x1000);
  std::uint8_t* high = memory.frame((1ull << 40) - kFrameSize);
  low[0] = 1;
  high[kFrameSize - 1] = 2;
  EXPECT_EQ(memory.resident_bytes(), 2 * kFrameSize);
  EXPECT_EQ(memory.frame(0x1000)[0], 1);
  EXPECT_EQ(memory.frame(0x2000)[0], 0);              // fresh frames are zero
  EXPECT_EQ(memory.frame(0x2000), low + kFrameSize);  // contiguous
}

TEST(HostMemory, PopulatingARunKeepsWhatItsFramesHeld) {
  HostMemory memory(4 * kChunkSize);
  memory.frame(kChunkSize - kFrameSize)[7] = 9;                  // in use before
  memory.populate(kChunkSize - 2 * kFrameSize, 4 * kFrameSize);  // across a chunk boundary
  EXPECT_EQ(memory.resident_bytes(), 4 * kFrameSize);
  EXPECT_EQ(memory.frame(kChunkSize - kFrameSize)[7], 9);
  EXPECT_EQ(memory.frame(kChunkSize)[0], 0);
  EXPECT_THROW(memory.populate(3 * kChunkSize, kChunkSize + 1), HwError);
}

TEST(HostMemory, ZeroingFramesReturnsTheirMemory) {
  HostMemory memory(4 * kChunkSize);
  memory.frame(kFrameSize)[5] = 7;
  memory.frame(2 * kFrameSize)[5] = 8;
  EXPECT_EQ(memory.resident_bytes(), 2 * kFrameSize);
  memory.zero(kFrameSize, kFrameSize);
  EXPECT_EQ(memory.frame(kFrameSize)[5], 0);
  EXPECT_EQ(memory.frame(2 * kFrameSize)[5], 8);  // only the frames asked for
  EXPECT_THROW(memory.zero(4 * kChunkSize - kFrameSize, 2 * kFrameSize), HwError);
}

TEST(HostMemory, RefusesAddressesOutsideAndWrapping) {
  HostMemory memory(4 * kChunkSize);
  EXPECT_THROW((void)memory.frame(4 * kChunkSize), HwError);
  EXPECT_THROW(memory.check_range(~std::uint64_t{0} - 10, 100), HwError);
  EXPECT_EQ(memory.span(kChunkSize - 8, 16) + 8, memory.frame(kChunkSize));  // contiguous
  EXPECT_THROW((void)memory.span(4 * kChunkSize - 8, 16), HwError);
  EXPECT_THROW(HostMemory(12345), HwError);
}

}  // namespace
}  // namespace cvmsim::hw
