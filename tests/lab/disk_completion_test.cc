// The PSP's completion records for DISK_IO (docs/formats.md, "Secure calls"), and the
// disk controller's rules applied before a transfer starts: a guest's bad request gets a
// precise status, no transfer and no interrupt.
#include <gtest/gtest.h>

#include "support/secure_call_bench.h"
#include "support/temp_dir.h"

namespace cvmsim::lab {
namespace {

class DiskCompletion : public ::testing::Test {
 protected:
  DiskCompletion() {
    ImageSpec spec;
    spec.volume.kernel = guest("disk_demo");
    world.make_image(spec, image);
  }
  test::TempDir dir;
  World world{dir.path(), crypto::SuiteId::sm};
  std::filesystem::path image = dir.path() / "disk.img";
};

TEST_F(DiskCompletion, EveryServedRequestGetsARecordWithItsSequenceTagAndStatus) {
  SecureCallBench bench(world, image);
  ASSERT_TRUE(bench.image_cert().ok());
  (void)bench.platform().disks().take_interrupts();

  ASSERT_TRUE(bench.disk_io(0, false).ok());
  const cvm_disk_completion read = bench.completion();
  EXPECT_EQ(read.sequence, bench.last_sequence());
  EXPECT_NE(read.tag, 0u);
  EXPECT_EQ(read.status, static_cast<std::uint32_t>(psp::Status::success));
  // The controller's interrupt names the same transfer; the host collects it.
  const std::vector<hw::DiskInterrupt> raised = bench.platform().disks().take_interrupts();
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_EQ(raised[0].tag, read.tag);

  ASSERT_TRUE(bench.disk_io(1, true).ok());
  EXPECT_EQ(bench.completion().sequence, bench.last_sequence());
  EXPECT_GT(bench.completion().tag, read.tag);

  // A refused request is answered too, with no transfer behind it.
  const psp::Response beyond = bench.disk_io(1ull << 40, false);
  EXPECT_EQ(beyond.result.status, psp::Status::invalid_address);
  const cvm_disk_completion refused = bench.completion();
  EXPECT_EQ(refused.sequence, bench.last_sequence());
  EXPECT_EQ(refused.tag, 0u);
  EXPECT_EQ(refused.status, static_cast<std::uint32_t>(psp::Status::invalid_address));
  EXPECT_EQ(refused.detail, bench.guest_status().second);
}

TEST_F(DiskCompletion, ARequestForwardedTwiceIsServedOnceAndItsRecordStays) {
  SecureCallBench bench(world, image);
  ASSERT_TRUE(bench.image_cert().ok());
  ASSERT_TRUE(bench.disk_io(0, false).ok());
  const cvm_disk_completion served = bench.completion();
  const std::uint64_t transfers = bench.platform().disks().stats().transfers;

  const psp::Response again = bench.forward_again();
  EXPECT_EQ(again.result.status, psp::Status::replayed_request);
  EXPECT_EQ(bench.guest_status().first, static_cast<std::uint64_t>(psp::Status::replayed_request));
  const cvm_disk_completion after = bench.completion();
  EXPECT_EQ(after.sequence, served.sequence);
  EXPECT_EQ(after.tag, served.tag);
  EXPECT_EQ(after.status, served.status);
  EXPECT_EQ(bench.platform().disks().stats().transfers, transfers);
}

// The controller's alignment rule reaches the guest as invalid_parameter before any
// transfer: before, a raw read off 512-byte units reached the controller, failed there
// and answered io_error with an interrupt.
TEST_F(DiskCompletion, ARawReadTheControllerWouldRefuseIsRefusedBeforeItStarts) {
  SecureCallBench bench(world, image);
  (void)bench.platform().disks().take_interrupts();
  const std::uint64_t transfers = bench.platform().disks().stats().transfers;

  const psp::Response unaligned = bench.raw_read(100, 4096);
  EXPECT_EQ(unaligned.result.status, psp::Status::invalid_parameter);
  EXPECT_EQ(unaligned.result.detail, 100u);
  const psp::Response partial = bench.raw_read(0, 1000);
  EXPECT_EQ(partial.result.status, psp::Status::invalid_parameter);
  EXPECT_EQ(partial.result.detail, 1000u);
  EXPECT_EQ(bench.completion().tag, 0u);
  EXPECT_EQ(bench.platform().disks().stats().transfers, transfers);
  EXPECT_TRUE(bench.platform().disks().take_interrupts().empty());

  EXPECT_TRUE(bench.raw_read(0, 4096).ok());  // the header area, in whole units
}

}  // namespace
}  // namespace cvmsim::lab
