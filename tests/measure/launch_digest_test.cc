#include "measure/launch_digest.h"

#include <gtest/gtest.h>

#include "common/hex.h"
#include "measure/launch_plan.h"
#include "measure/measure_error.h"

namespace cvmsim::measure {
namespace {

using crypto::SuiteId;

Bytes synthetic_firmware(std::size_t size) {
  Bytes fw(size);
  for (std::size_t i = 0; i < size; ++i) fw[i] = static_cast<std::uint8_t>((i * 7 + 3) & 0xff);
  return fw;
}

// Golden values computed by scripts/launch_digest.py, an independent implementation of the
// definition in docs/formats.md. A change here is a change of the on-disk format.
TEST(LaunchDigest, MatchesTheIndependentReferenceImplementation) {
  const Bytes fw = synthetic_firmware(10000);
  const GuestLayout layout;
  EXPECT_EQ(to_hex(measure_plan(plan_firmware_launch(fw, layout, "fw"), SuiteId::sm)),
            "0e088fc55057b547fa39dd1a4d9f8e8bbb7e9f814a26636f805692af27726dcb");
  EXPECT_EQ(to_hex(measure_plan(plan_firmware_launch(fw, layout, "fw"), SuiteId::nist)),
            "7b84ed479fce230dcfd30ac665c2e5dcc2de7b7e3272ab514b76b80ea893505cd009d2d52a097a62"
            "b15fec28ad5faa95");
}

TEST(LaunchDigest, PlanSplitsPadsAndEndsWithTheVcpuState) {
  const LaunchPlan plan = plan_firmware_launch(synthetic_firmware(10000), GuestLayout{}, "fw");
  ASSERT_EQ(plan.pages.size(), 4u);  // 3 firmware pages + vcpu state
  EXPECT_EQ(plan.pages[0].gpa, 0x100000u);
  EXPECT_EQ(plan.pages[2].gpa, 0x102000u);
  EXPECT_EQ(plan.pages[2].contents[10000 - 8192 - 1], ((9999 * 7 + 3) & 0xff));
  EXPECT_EQ(plan.pages[2].contents[10000 - 8192], 0);  // zero padding
  EXPECT_EQ(plan.pages[3].type, PageType::vcpu_state);
  EXPECT_EQ(plan.vcpu.rip, 0x100000u);
  EXPECT_EQ(plan.firmware_size, 10000u);
}

TEST(LaunchDigest, SwappingIdenticalPagesChangesTheDigest) {
  // Two pages with different contents, then the same two pages in the other order: the
  // "undeSErVed trust" reordering. With addresses in the records the digests differ.
  Bytes fw(2 * kPageSize, 0xaa);
  std::fill(fw.begin() + kPageSize, fw.end(), 0xbb);
  Bytes swapped(2 * kPageSize, 0xbb);
  std::fill(swapped.begin() + kPageSize, swapped.end(), 0xaa);
  for (SuiteId suite : {SuiteId::sm, SuiteId::nist}) {
    const Bytes a = measure_plan(plan_firmware_launch(fw, GuestLayout{}, "a"), suite);
    const Bytes b = measure_plan(plan_firmware_launch(swapped, GuestLayout{}, "b"), suite);
    EXPECT_NE(a, b);
  }
}

TEST(LaunchDigest, SamePagesInAnotherOrderOfUpdatesDiffer) {
  // A VMM that issues LAUNCH_UPDATE for the same (gpa, contents) pairs in another order.
  const Bytes p1(kPageSize, 1);
  const Bytes p2(kPageSize, 2);
  LaunchDigest in_order(SuiteId::sm);
  in_order.extend(0x1000, PageType::firmware, p1);
  in_order.extend(0x2000, PageType::firmware, p2);
  LaunchDigest reordered(SuiteId::sm);
  reordered.extend(0x2000, PageType::firmware, p2);
  reordered.extend(0x1000, PageType::firmware, p1);
  EXPECT_NE(in_order.value(), reordered.value());
  // Same contents at another address differ too.
  LaunchDigest moved(SuiteId::sm);
  moved.extend(0x3000, PageType::firmware, p1);
  moved.extend(0x2000, PageType::firmware, p2);
  EXPECT_NE(in_order.value(), moved.value());
}

TEST(LaunchDigest, ZeroPageDiffersFromAFirmwarePageOfZeros) {
  LaunchDigest zero(SuiteId::nist);
  zero.extend(0x1000, PageType::zero, {});
  LaunchDigest data(SuiteId::nist);
  data.extend(0x1000, PageType::firmware, Bytes(kPageSize, 0));
  EXPECT_NE(zero.value(), data.value());
  EXPECT_EQ(zero.pages(), 1u);
}

TEST(LaunchDigest, OneFlippedBitAnywhereChangesTheDigest) {
  const Bytes fw = synthetic_firmware(3 * kPageSize);
  const Bytes base = measure_plan(plan_firmware_launch(fw, GuestLayout{}, "fw"), SuiteId::sm);
  for (std::size_t at : {std::size_t{0}, kPageSize + 17, 3 * kPageSize - 1}) {
    Bytes changed = fw;
    changed[at] ^= 0x10;
    EXPECT_NE(measure_plan(plan_firmware_launch(changed, GuestLayout{}, "fw"), SuiteId::sm), base)
        << "byte " << at;
  }
}

TEST(LaunchDigest, RefusesBadPagesAndFirmware) {
  LaunchDigest d(SuiteId::sm);
  EXPECT_THROW(d.extend(0x1001, PageType::firmware, Bytes(kPageSize)), MeasureError);
  EXPECT_THROW(d.extend(0x1000, PageType::firmware, Bytes(100)), MeasureError);
  EXPECT_THROW(d.extend(0x1000, PageType::zero, Bytes(kPageSize)), MeasureError);
  EXPECT_EQ(d.pages(), 0u);
  EXPECT_THROW((void)plan_firmware_launch({}, GuestLayout{}, "empty.bin"), MeasureError);
  GuestLayout small;
  small.max_firmware_size = 100;
  try {
    (void)plan_firmware_launch(Bytes(101), small, "big.bin");
    FAIL();
  } catch (const MeasureError& e) {
    EXPECT_EQ(e.code(), MeasureErrc::bad_firmware);
    EXPECT_NE(std::string(e.what()).find("big.bin"), std::string::npos);
  }
  GuestLayout high;
  high.load_gpa = ~std::uint64_t{0} & ~std::uint64_t{0xfff};
  EXPECT_ANY_THROW((void)plan_firmware_launch(Bytes(2 * kPageSize), high, "wrap.bin"));
}

}  // namespace
}  // namespace cvmsim::measure
