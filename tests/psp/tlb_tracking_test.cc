// TLB tracking through the real PSP and VMM: a frame NPT_UNMAP takes stays its VM's until
// TLB_TRACK has moved the VM's epoch and every vCPU of the VM has flushed since, whoever
// asks for it next (another VM's NPT_MAP, a donation for tables, a new VM's root).
#include <gtest/gtest.h>

#include "support/guard_world.h"
#include "trace/trace.h"

namespace cvmsim::vmm::test_support {
namespace {

using measure::GuardMode;
using measure::NptIntegrity;

constexpr std::uint64_t kPage = 0x50000000;   // mapped into A, then unmapped
constexpr std::uint64_t kOther = 0x60000000;  // where B asks for the frame

class TlbTracking : public ::testing::TestWithParam<GuardMode> {
 protected:
  void SetUp() override {
    a = w.launch("hello", guard_policy(GetParam(), NptIntegrity::merkle));
    b = w.launch("hello", guard_policy(GetParam(), NptIntegrity::merkle));
    ASSERT_TRUE(w.map(a, kPage).ok());
    frame = w.frame_of(a, kPage);
  }
  psp::Result give_to_b() { return w.map_frames(b, kOther, frame).result; }

  GuardWorld w;
  psp::VmHandle a = 0;
  psp::VmHandle b = 0;
  std::uint64_t frame = 0;
};

TEST_P(TlbTracking, AnUnmappedFrameChangesHandsOnlyAfterTrackAndAFlush) {
  const std::size_t memory_before = w.info(a).private_memory;
  const std::uint64_t epoch = w.info(a).tlb_epoch;
  ASSERT_TRUE(w.psp().execute(psp::NptUnmap{a, kPage, 1}).ok());
  // Still A's (its vCPU may hold a translation), recorded in PSP-private memory.
  EXPECT_EQ(w.mc().tag(frame).owner, a);
  EXPECT_EQ(w.info(a).frames_awaiting_flush, 1u);
  EXPECT_GT(w.info(a).private_memory, memory_before);
  const psp::Result refused = give_to_b();
  EXPECT_EQ(refused.status, psp::Status::tlb_not_tracked);
  EXPECT_EQ(refused.detail, frame);
  // A flush alone does not do: the epoch of the unmap is still the current one.
  w.vmm->flush_tlb(a);
  EXPECT_EQ(give_to_b().status, psp::Status::tlb_not_tracked);
  // TLB_TRACK alone does not either: A's vCPU has not flushed since.
  ASSERT_TRUE(w.psp().execute(psp::TlbTrack{a}).ok());
  EXPECT_EQ(w.info(a).tlb_epoch, epoch + 1);
  EXPECT_LE(w.info(a).tlb_oldest_flush, epoch);
  EXPECT_EQ(give_to_b().status, psp::Status::tlb_not_tracked);
  // The flush after the track is what the PSP waits for; the hardware recorded it.
  w.vmm->flush_tlb(a);
  EXPECT_EQ(w.info(a).tlb_oldest_flush, epoch + 1);
  ASSERT_TRUE(give_to_b().ok());
  EXPECT_EQ(w.mc().tag(frame).owner, b);
  EXPECT_EQ(w.info(a).frames_awaiting_flush, 0u);
  EXPECT_EQ(w.info(a).private_memory, memory_before);
}

TEST_P(TlbTracking, TheVcpusNextEntryFlushesOnceTheEpochMoved) {
  ASSERT_TRUE(w.psp().execute(psp::NptUnmap{a, kPage, 1}).ok());
  ASSERT_TRUE(w.psp().execute(psp::TlbTrack{a}).ok());
  EXPECT_EQ(give_to_b().status, psp::Status::tlb_not_tracked);
  const RunResult run = w.vmm->run(a);  // the entry flushes, as the TDX module does
  EXPECT_EQ(run.fate, VmFate::exited) << run.detail;
  EXPECT_TRUE(give_to_b().ok());
}

TEST_P(TlbTracking, TheHonestVmmUnmapsTracksAndFlushes) {
  Bytes contents(hw::kFrameSize, 0x5a);
  w.mc().write(frame, contents, w.psp().vcpu_binding(a)->requester());  // A's data
  ASSERT_TRUE(w.vmm->unmap(a, kPage, 1).ok());
  ASSERT_TRUE(give_to_b().ok());
  // B's page is scrubbed: zeros under B's key, nothing of what A had written.
  EXPECT_EQ(w.mc().tag(frame).owner, b);
  w.mc().read(frame, contents, w.psp().vcpu_binding(b)->requester());
  EXPECT_EQ(contents, Bytes(hw::kFrameSize, 0));
}

TEST_P(TlbTracking, NeitherTablesNorANewVmTakeAFrameAwaitingAFlush) {
  ASSERT_TRUE(w.psp().execute(psp::NptUnmap{a, kPage, 1}).ok());
  EXPECT_EQ(w.psp().execute(psp::NptDonate{b, {frame}}).result.status,
            psp::Status::tlb_not_tracked);
  const measure::Policy policy = guard_policy(GetParam(), NptIntegrity::merkle);
  EXPECT_EQ(w.psp().execute(psp::LaunchStart{policy.encode(), frame}).result.status,
            psp::Status::tlb_not_tracked);
  // A itself must wait too: the frame may be cached at its old GPA.
  EXPECT_EQ(w.map_frames(a, kOther, frame).result.status, psp::Status::tlb_not_tracked);
  ASSERT_TRUE(w.psp().execute(psp::TlbTrack{a}).ok());
  w.vmm->flush_tlb(a);
  ASSERT_TRUE(w.psp().execute(psp::NptDonate{b, {frame}}).ok());
  EXPECT_EQ(w.mc().tag(frame).use, hw::FrameUse::npt);
  EXPECT_EQ(w.mc().tag(frame).owner, b);
}

TEST_P(TlbTracking, DecommissionScrubsFramesAwaitingAFlush) {
  Bytes contents(hw::kFrameSize, 0x5a);
  w.mc().write(frame, contents, w.psp().vcpu_binding(a)->requester());
  ASSERT_TRUE(w.psp().execute(psp::NptUnmap{a, kPage, 1}).ok());
  w.vmm->decommission(a);
  EXPECT_EQ(w.mc().tag(frame), hw::FrameTag{});
  w.mc().read(frame, contents, hw::kHostAccess);
  EXPECT_EQ(contents, Bytes(hw::kFrameSize, 0));
  EXPECT_TRUE(give_to_b().ok());
}

TEST_P(TlbTracking, TlbTrackNamesOnlyKnownVms) {
  EXPECT_EQ(w.psp().execute(psp::TlbTrack{0xdead}).result.status, psp::Status::invalid_vm);
  // Any state of a known VM: a stopped VM's frames must be tracked as well.
  ASSERT_TRUE(w.psp().execute(psp::VmStop{a}).ok());
  EXPECT_TRUE(w.psp().execute(psp::TlbTrack{a}).ok());
}

TEST_P(TlbTracking, TheTraceRecordsTheTrackAndTheRefusal) {
  trace::Recorder recorder(w.platform->clock());
  w.psp().set_trace(&recorder);
  ASSERT_TRUE(w.psp().execute(psp::NptUnmap{a, kPage, 1}).ok());
  EXPECT_EQ(give_to_b().status, psp::Status::tlb_not_tracked);
  ASSERT_TRUE(w.psp().execute(psp::TlbTrack{a}).ok());
  w.psp().set_trace(nullptr);
  bool refused = false, tracked = false;
  for (const trace::Event& e : recorder.events()) {
    if (e.category != std::string_view(trace::category::psp_command)) continue;
    refused = refused || (e.name == "NPT_MAP" && e.args.value("status", "") == "tlb_not_tracked" &&
                          e.args.value("detail", std::uint64_t{0}) == frame);
    tracked =
        tracked || (e.name == "TLB_TRACK" && e.vm == a && e.args.value("status", "") == "success");
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(tracked);
}

INSTANTIATE_TEST_SUITE_P(Modes, TlbTracking,
                         ::testing::Values(GuardMode::detect, GuardMode::isolate),
                         [](const auto& param_info) {
                           return std::string(measure::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::vmm::test_support
