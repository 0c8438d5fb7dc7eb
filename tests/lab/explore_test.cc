// The bounded explorer and the invariants it checks (src/lab/explore/): every sequence of
// host actions up to depth 3 keeps every invariant in both guard modes; the attacks the
// invariants are about are performed and refused; and the checker itself fails when a
// (simulated) faulty PSP breaks an invariant, so its silence means something.
#include <gtest/gtest.h>

#include "common/scratch_dir.h"
#include "hw/hw_test_access.h"
#include "lab/explore/explorer.h"

namespace cvmsim::lab::explore {
namespace {

using Kind = Action::Kind;

class Explore : public ::testing::TestWithParam<measure::GuardMode> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir("cvmsim-explore-test");
    world_ = new World(dir_->path(), crypto::SuiteId::sm);
  }
  static void TearDownTestSuite() {
    delete world_;
    delete dir_;
  }
  WorldSetup setup() const { return WorldSetup(*world_, {.guard = GetParam()}); }

  static ScratchDir* dir_;
  static World* world_;
};
ScratchDir* Explore::dir_ = nullptr;
World* Explore::world_ = nullptr;

TEST_P(Explore, EveryInvariantHoldsAfterEverySequenceToDepthThree) {
  const WorldSetup s = setup();
  const ExploreResult r = explore(s, 3, exploration_alphabet(2));
  for (const Finding& f : r.findings) {
    ADD_FAILURE() << to_string(f.sequence) << "\n" << f.violations.front();
  }
  EXPECT_EQ(r.stats.depth, 3u);
  // 17 actions: the first level alone reaches a state per action that changes something.
  EXPECT_GE(r.stats.frontier.at(0), 8u);
  // Isolate blocks the host's table writes, so it reaches fewer states than detect.
  EXPECT_GT(r.stats.states, GetParam() == measure::GuardMode::detect ? 100u : 40u);
  EXPECT_EQ(r.stats.sequences, 17u * (1 + r.stats.frontier[0] + r.stats.frontier[1]));
}

TEST_P(Explore, AFrameOfOneVmCannotBeMappedIntoAnother) {
  const WorldSetup s = setup();
  SmallWorld w(s);
  const Action map0{Kind::map, 0, 1, {FrameRef::Kind::pool, 2}, 0};
  ASSERT_EQ(w.apply(map0).status, psp::Status::success);
  // The same frame for vm1, vm0's firmware frame, and vm0's NPT root: all refused.
  for (const FrameRef frame :
       {FrameRef{FrameRef::Kind::pool, 2}, FrameRef{FrameRef::Kind::launch_page, 0},
        FrameRef{FrameRef::Kind::npt_root, 0}}) {
    const Action steal{Kind::map, 1, 1, frame, 0};
    const StepResult r = w.apply(steal);
    EXPECT_EQ(r.status, psp::Status::frame_not_available) << to_string(steal);
    EXPECT_TRUE(w.check(steal, r).empty());
  }
}

TEST_P(Explore, AFrameUnmappedFromOneVmWaitsForItsTlbTrack) {
  const WorldSetup s = setup();
  SmallWorld w(s);
  ASSERT_EQ(w.apply({Kind::map, 0, 0, {FrameRef::Kind::pool, 0}, 0}).status, psp::Status::success);
  const Action unmap{Kind::unmap, 0, 0, {}, 0};
  const StepResult unmapped = w.apply(unmap);
  ASSERT_EQ(unmapped.status, psp::Status::success);
  EXPECT_TRUE(w.check(unmap, unmapped).empty());
  const Action take{Kind::map, 1, 0, {FrameRef::Kind::pool, 0}, 0};
  const StepResult refused = w.apply(take);
  EXPECT_EQ(refused.status, psp::Status::tlb_not_tracked);
  EXPECT_TRUE(w.check(take, refused).empty());
  // No vCPU runs in the small world: TLB_TRACK alone moves vm0 past the unmap.
  ASSERT_EQ(w.apply({Kind::track, 0, 0, {}, 0}).status, psp::Status::success);
  const StepResult taken = w.apply(take);
  EXPECT_EQ(taken.status, psp::Status::success);
  EXPECT_TRUE(w.check(take, taken).empty());
}

TEST_P(Explore, TamperedTablesAreRefusedAtTheNextMapAndStopTheVmAtTheNextTick) {
  const WorldSetup s = setup();
  SmallWorld w(s);
  const StepResult tamper = w.apply({Kind::tamper_npt, 0, 0, {}, 0});
  if (GetParam() == measure::GuardMode::isolate) {
    EXPECT_TRUE(tamper.blocked);  // the memory controller refuses the host's write
    return;
  }
  ASSERT_FALSE(tamper.blocked);
  const Action map{Kind::map, 0, 0, {FrameRef::Kind::pool, 0}, 0};
  const StepResult mapped = w.apply(map);
  EXPECT_FALSE(mapped.tables_matched_before);
  EXPECT_EQ(mapped.status, psp::Status::npt_tampered);
  EXPECT_TRUE(w.check(map, mapped).empty());
  const Action tick{Kind::tick, 0, 0, {}, 0};
  const StepResult ticked = w.apply(tick);
  EXPECT_TRUE(w.check(tick, ticked).empty());
  EXPECT_EQ(w.platform().psp().vm_info(w.vms()[0].handle)->state, psp::VmState::stopped);
  EXPECT_EQ(w.platform().psp().vm_info(w.vms()[1].handle)->state, psp::VmState::running);
}

// A faulty PSP, played with the hardware's test passkey: each breaks one invariant, and the
// checker names it.
TEST_P(Explore, TheCheckerReportsEveryInvariantAFaultyPspBreaks) {
  const WorldSetup s = setup();
  const Action tick{Kind::tick, 0, 0, {}, 0};
  {
    SmallWorld w(s);  // vm1's guest frame handed to vm0 behind the tables' back
    ASSERT_EQ(w.apply({Kind::map, 1, 0, {FrameRef::Kind::pool, 0}, 0}).status,
              psp::Status::success);
    hw::MemoryController& mc = w.platform().memory_controller();
    hw::FrameTag tag = mc.tag(w.frame_hpa({FrameRef::Kind::pool, 0}));
    tag.owner = w.vms()[0].handle;
    mc.set_tag(hw::test_passkey(), w.frame_hpa({FrameRef::Kind::pool, 0}), tag);
    const auto broken = w.check(tick, {});
    ASSERT_EQ(broken.size(), 1u);
    EXPECT_NE(broken[0].find("vm1: GPA 0x40000000 maps frame"), std::string::npos) << broken[0];
  }
  {
    SmallWorld w(s);  // a frame unmapped from vm0 handed to vm1 before vm0's TLB was tracked
    ASSERT_EQ(w.apply({Kind::map, 0, 0, {FrameRef::Kind::pool, 0}, 0}).status,
              psp::Status::success);
    const Action unmap{Kind::unmap, 0, 0, {}, 0};
    const StepResult r = w.apply(unmap);
    ASSERT_EQ(r.status, psp::Status::success);
    hw::MemoryController& mc = w.platform().memory_controller();
    hw::FrameTag tag = mc.tag(w.frame_hpa({FrameRef::Kind::pool, 0}));
    tag.owner = w.vms()[1].handle;
    mc.set_tag(hw::test_passkey(), w.frame_hpa({FrameRef::Kind::pool, 0}), tag);
    const auto broken = w.check(unmap, r);
    ASSERT_EQ(broken.size(), 1u);
    EXPECT_NE(broken[0].find("unmapped from vm0 changed hands"), std::string::npos) << broken[0];
  }
  {
    SmallWorld w(s);  // a decommission that leaves the key slot loaded
    const Action gone{Kind::decommission, 0, 0, {}, 0};
    const StepResult r = w.apply(gone);
    ASSERT_EQ(r.status, psp::Status::success);
    Bytes key(32);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
    w.platform().memory_controller().load_key(hw::test_passkey(), w.vms()[0].asid, key);
    const auto broken = w.check(gone, r);
    ASSERT_EQ(broken.size(), 1u);
    EXPECT_NE(broken[0].find("still loaded after DECOMMISSION"), std::string::npos);
  }
  {
    SmallWorld w(s);  // a mapping claimed on tampered tables that is not there, and a check
                      // that missed tampering
    StepResult claimed;
    claimed.status = psp::Status::success;
    claimed.tables_matched_before = false;
    const auto broken = w.check({Kind::map, 0, 0, {}, 0}, claimed);
    ASSERT_EQ(broken.size(), 1u);
    EXPECT_NE(broken[0].find("NPT_MAP on tampered tables succeeded through a tampered entry"),
              std::string::npos);
    if (GetParam() == measure::GuardMode::detect) {
      (void)w.apply({Kind::tamper_npt, 1, 0, {}, 0});  // no tick: the PSP never looked
      const auto missed = w.check(tick, {});
      ASSERT_EQ(missed.size(), 1u);
      EXPECT_NE(missed[0].find("vm1: tampered tables survived a periodic check"),
                std::string::npos);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Guard, Explore,
                         ::testing::Values(measure::GuardMode::detect, measure::GuardMode::isolate),
                         [](const ::testing::TestParamInfo<measure::GuardMode>& mode) {
                           return std::string(measure::to_string(mode.param));
                         });

TEST(ExploreActions, EncodingRoundTripsAndEveryByteStringDecodes) {
  const auto alphabet = exploration_alphabet(2);
  EXPECT_EQ(alphabet.size(), 17u);
  EXPECT_EQ(decode_actions(encode_actions(alphabet), 2, 8, 4), alphabet);
  Bytes noise(300);
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<std::uint8_t>(i * 37);
  const auto decoded = decode_actions(noise, 2, 8, 4);
  EXPECT_EQ(decoded.size(), 100u);
  for (const Action& a : decoded) {
    EXPECT_LT(a.vm, 2);
    EXPECT_LT(a.page, 8);
  }
}

}  // namespace
}  // namespace cvmsim::lab::explore
