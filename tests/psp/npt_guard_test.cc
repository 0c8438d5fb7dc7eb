// The guarded NPT against a hypervisor that edits table entries behind the PSP's back.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "common/file_io.h"
#include "hw/hw_error.h"
#include "hw/npt.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "support/guard_world.h"
#include "support/guest_expectations.h"
#include "support/temp_dir.h"
#include "vmm/vmm.h"

namespace cvmsim::vmm {
namespace {

namespace npt = hw::npt;
using crypto::SuiteId;
using measure::GuardMode;
using measure::NptIntegrity;

struct GuardedVm {
  GuardedVm(GuardMode guard, NptIntegrity integrity) {
    pki::create_vendor(dir / "v", SuiteId::sm, "V", false);
    pki::create_chip(dir / "v", dir / "c", false);
    pki::create_provider(dir / "p", SuiteId::sm, "P", false);
    const crypto::Key key = pki::load_provider_key(dir / "p");
    platform = std::make_unique<Platform>(dir / "c");
    vmm = std::make_unique<Vmm>(*platform);
    vmm->set_check_interval(0);  // the tests fire the PSP timer themselves
    policy.guard = guard;
    policy.npt_integrity = integrity;
    const Bytes firmware = read_file(std::string(CVMSIM_GUEST_DIR) + "/hello.bin");
    const Bytes digest = measure::measure_plan(
        measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "fw"), SuiteId::sm);
    LaunchRequest r{firmware,
                    measure::sign_reference(key, policy, digest).encode(),
                    key.public_der(),
                    policy,
                    256ull << 20,
                    {},
                    true,
                    {}};
    vm = vmm->launch(r);
  }
  // The leaf entry that maps the firmware's first page.
  std::uint64_t firmware_entry() {
    const auto info = *platform->psp().vm_info(vm);
    npt::Editor editor(platform->memory_controller(), hw::kHostAccess);
    return *editor.leaf_entry_address(info.npt_root, 0x100000, nullptr);
  }
  // The hypervisor flips one bit of that entry by writing host memory directly.
  void tamper() {
    const std::uint64_t at = firmware_entry();
    std::uint8_t byte = 0;
    platform->memory_controller().read(at + 1, {&byte, 1}, hw::kHostAccess);
    byte ^= 0x10;  // frame number bit 12: the entry now points at the next frame
    platform->memory_controller().write(at + 1, {&byte, 1}, hw::kHostAccess);
  }
  void donate(std::size_t frames) {
    psp::NptDonate d{vm, {}};
    for (std::size_t i = 0; i < frames; ++i)
      d.frames.push_back(platform->frames().allocate(1)->hpa);
    ASSERT_TRUE(platform->psp().execute(d).ok());
  }
  psp::Response map_one(std::uint64_t gpa) {
    const auto hpa = platform->frames().allocate(1)->hpa;
    return platform->psp().execute(psp::NptMap{vm, gpa, hpa, 1, {}});
  }

  test::TempDir dir;
  measure::Policy policy;
  std::unique_ptr<Platform> platform;
  std::unique_ptr<Vmm> vmm;
  psp::VmHandle vm = 0;
};

class DetectMode : public ::testing::TestWithParam<NptIntegrity> {};

TEST_P(DetectMode, TamperedEntryRefusesTheNextMapAndThePeriodicCheckStopsTheVm) {
  GuardedVm g(GuardMode::detect, GetParam());
  ASSERT_TRUE(g.map_one(0x400000).ok());
  g.tamper();
  // The next mapping through the same tables is refused.
  const psp::Response r = g.map_one(0x101000);
  EXPECT_EQ(r.result.status, psp::Status::npt_tampered);
  // The periodic check sees the whole table and stops the VM; later commands fail.
  EXPECT_EQ(g.platform->psp().periodic_check(), std::vector<psp::VmHandle>{g.vm});
  const auto info = *g.platform->psp().vm_info(g.vm);
  EXPECT_EQ(info.state, psp::VmState::stopped);
  EXPECT_EQ(info.stop_reason, psp::StopReason::npt_tampered);
  EXPECT_EQ(g.map_one(0x800000).result.status, psp::Status::vm_stopped);
}

TEST_P(DetectMode, UntouchedTablesPassEveryCheck) {
  GuardedVm g(GuardMode::detect, GetParam());
  g.donate(64);
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(g.map_one(0x10000000 + i * 0x200000).ok());
  EXPECT_TRUE(g.platform->psp().periodic_check().empty());
  EXPECT_EQ(g.vmm->run(g.vm).fate, VmFate::exited);
}

// A fresh leaf table's empty chunks cost no hash (their leaf is the zero digest): an entry
// forged into one must still be found, by the next walk through it and by the periodic
// check.
TEST_P(DetectMode, AnEntryForgedIntoAnEmptyChunkOfAFreshTableIsFound) {
  GuardedVm g(GuardMode::detect, GetParam());
  g.donate(64);
  const std::uint64_t block = 0x20000000;
  ASSERT_TRUE(g.map_one(block).ok());  // a new leaf table with one entry
  npt::Editor editor(g.platform->memory_controller(), hw::kHostAccess);
  const auto root = g.platform->psp().vm_info(g.vm)->npt_root;
  const std::uint64_t forged_gpa = block + 64 * hw::kFrameSize;  // chunk 16 of 128, empty
  const std::uint64_t entry = *editor.leaf_entry_address(root, forged_gpa, nullptr);
  ASSERT_EQ(editor.read_entry(entry), 0u);
  const std::uint64_t stolen = g.platform->frames().allocate(1)->hpa;
  editor.write_entry(entry, stolen | 0x7);
  // A mapping whose walk reads the forged chunk (its neighbour entry) is refused.
  EXPECT_EQ(g.map_one(forged_gpa + hw::kFrameSize).result.status, psp::Status::npt_tampered);
  EXPECT_EQ(g.platform->psp().periodic_check(), std::vector<psp::VmHandle>{g.vm});
  EXPECT_EQ(g.platform->psp().vm_info(g.vm)->stop_reason, psp::StopReason::npt_tampered);
}

// The Merkle tree's interior is settled in batches: leaves are always current, the root
// catches up at the latest after kDeferredLeaves leaves and whenever it is read. An edit
// made while leaves wait is still found by the next command that walks it and by the
// whole-table check, and the stored value, once read, equals a fresh recomputation.
TEST(DeferredRoot, EditsWhileLeavesWaitAreFoundAndTheSettledRootIsExact) {
  GuardedVm g(GuardMode::detect, NptIntegrity::merkle);
  g.donate(64);
  std::size_t most_unsettled = 0;
  for (std::uint64_t i = 0; i < 2 * psp::kDeferredLeaves; ++i) {
    // One page per chunk of 4 entries, so every mapping leaves one more leaf waiting.
    ASSERT_TRUE(g.map_one(0x10000000 + i * 4 * hw::kFrameSize).ok()) << i;
    const auto info = *g.platform->psp().vm_info(g.vm);
    ASSERT_LT(info.guard_unsettled_leaves, psp::kDeferredLeaves) << i;
    most_unsettled = std::max(most_unsettled, info.guard_unsettled_leaves);
  }
  EXPECT_GT(most_unsettled, psp::kDeferredLeaves / 2);  // the batching really happened
  EXPECT_LE(g.platform->psp().vm_info(g.vm)->private_memory, 4096u);
  // The root read now covers every leaf.
  const auto [stored, fresh] = *g.platform->psp().npt_digest_check(g.vm);
  EXPECT_EQ(stored, fresh);
  EXPECT_EQ(g.platform->psp().vm_info(g.vm)->guard_unsettled_leaves, 0u);

  // Leave leaves waiting again, then flip a bit in an entry whose leaf is waiting.
  const std::uint64_t base = 0x10000000 + 2 * psp::kDeferredLeaves * 4 * hw::kFrameSize;
  for (std::uint64_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(g.map_one(base + i * 4 * hw::kFrameSize).ok());
  }
  ASSERT_GT(g.platform->psp().vm_info(g.vm)->guard_unsettled_leaves, 0u);
  npt::Editor editor(g.platform->memory_controller(), hw::kHostAccess);
  const auto root = g.platform->psp().vm_info(g.vm)->npt_root;
  const std::uint64_t entry = *editor.leaf_entry_address(root, base + 4 * hw::kFrameSize, nullptr);
  editor.write_entry(entry, editor.read_entry(entry) ^ (1ull << 13));
  // The next mapping whose walk reads that chunk (the next entry in it) is refused...
  EXPECT_EQ(g.map_one(base + 5 * hw::kFrameSize).result.status, psp::Status::npt_tampered);
  // ...and the whole-table check stops the VM.
  EXPECT_EQ(g.platform->psp().periodic_check(), std::vector<psp::VmHandle>{g.vm});
}

INSTANTIATE_TEST_SUITE_P(Integrity, DetectMode,
                         ::testing::Values(NptIntegrity::full, NptIntegrity::merkle),
                         [](const auto& param_info) {
                           return std::string(measure::to_string(param_info.param));
                         });

TEST(IsolateMode, TheMemoryControllerBlocksHostWritesToTables) {
  GuardedVm g(GuardMode::isolate, NptIntegrity::merkle);
  EXPECT_THROW(g.tamper(), hw::HwError);
  EXPECT_TRUE(g.map_one(0x101000).ok());
  EXPECT_TRUE(g.platform->psp().periodic_check().empty());
}

TEST(OffMode, TheHypervisorsEditGoesThroughUnnoticed) {
  GuardedVm g(GuardMode::off, NptIntegrity::merkle);
  g.tamper();  // no guard: the SEV-class baseline
  EXPECT_TRUE(g.platform->psp().periodic_check().empty());
  // The guest's first page now comes from another frame: it no longer runs its own code.
  const RunResult r = g.vmm->run(g.vm, {.max_sim_ns = 100'000'000});  // 100 ms
  EXPECT_NE(r.console, "hello from a confidential VM\n");
}

// --- Stored value versus recomputation, ownership, large guests, the periodic check. ---

namespace guard_properties {

using test_support::guard_policy;
using test_support::GuardWorld;

struct AlgorithmAndSuite {
  NptIntegrity integrity;
  SuiteId suite;
};

class RandomMapUnmap : public ::testing::TestWithParam<AlgorithmAndSuite> {};

// Random NPT_MAP/NPT_UNMAP sequences through the real PSP against a reference map of
// GPA -> frame: after every command the stored value equals one recomputed from the table
// pages alone, and every translation equals the reference.
TEST_P(RandomMapUnmap, StoredValueAlwaysEqualsAFreshRecomputation) {
  GuardWorld w(GetParam().suite);
  const auto vm = w.launch("hello", guard_policy(GuardMode::detect, GetParam().integrity));
  std::map<std::uint64_t, std::uint64_t> reference;  // gpa -> hpa
  std::mt19937_64 rng(20261122);
  // GPAs cluster in a few 2 MiB regions spread over 1 TiB, so that runs share tables.
  const std::uint64_t regions[] = {0x40000000, 0x40200000, 0x8000000000, 0xff00000000};
  const int steps = GetParam().integrity == NptIntegrity::full ? 60 : 150;
  for (int step = 0; step < steps; ++step) {
    const std::uint64_t base = regions[rng() % 4] + (rng() % 480) * hw::kFrameSize;
    const std::uint64_t pages = 1 + rng() % 32;
    bool free_range = true;
    bool mapped_range = true;
    for (std::uint64_t i = 0; i < pages; ++i) {
      const bool mapped = reference.contains(base + i * hw::kFrameSize);
      free_range = free_range && !mapped;
      mapped_range = mapped_range && mapped;
    }
    if (mapped_range && rng() % 2 == 0) {
      ASSERT_TRUE(w.vmm->unmap(vm, base, pages).ok()) << "step " << step;
      for (std::uint64_t i = 0; i < pages; ++i) reference.erase(base + i * hw::kFrameSize);
    } else {
      psp::MapPermissions perms;
      perms.shared = rng() % 4 == 0;
      const auto hpa = w.platform->frames().allocate(pages)->hpa;
      const psp::Response r = w.map_frames(vm, base, hpa, pages, perms);
      ASSERT_EQ(r.result.status, free_range ? psp::Status::success : psp::Status::already_mapped)
          << "step " << step;
      if (r.ok()) {
        for (std::uint64_t i = 0; i < pages; ++i) {
          reference[base + i * hw::kFrameSize] = hpa + i * hw::kFrameSize;
        }
      }
    }
    const auto [stored, fresh] = *w.psp().npt_digest_check(vm);
    ASSERT_EQ(stored, fresh) << "step " << step;
  }
  for (const auto& [gpa, hpa] : reference) {
    const auto t = npt::walk(w.mc(), w.info(vm).npt_root, gpa, npt::Access::read);
    ASSERT_TRUE(t.ok()) << gpa;
    EXPECT_EQ(t.translation->hpa, hpa);
  }
  EXPECT_TRUE(w.tick().empty());
  // And one flipped bit anywhere makes them differ.
  const std::uint64_t at = w.entry_at(vm, reference.begin()->first);
  w.write_u64(at, w.read_u64(at) ^ (1ull << 62));
  const auto [stored, fresh] = *w.psp().npt_digest_check(vm);
  EXPECT_NE(stored, fresh);
}

INSTANTIATE_TEST_SUITE_P(Guard, RandomMapUnmap,
                         ::testing::Values(AlgorithmAndSuite{NptIntegrity::merkle, SuiteId::sm},
                                           AlgorithmAndSuite{NptIntegrity::merkle, SuiteId::nist},
                                           AlgorithmAndSuite{NptIntegrity::full, SuiteId::sm},
                                           AlgorithmAndSuite{NptIntegrity::full, SuiteId::nist}),
                         [](const auto& param_info) {
                           return std::string(measure::to_string(param_info.param.integrity)) +
                                  "_" + std::string(crypto::to_string(param_info.param.suite));
                         });

class Ownership : public ::testing::TestWithParam<NptIntegrity> {
 protected:
  void SetUp() override {
    a = w.launch("hello", guard_policy(GuardMode::detect, GetParam()));
    b = w.launch("hello", guard_policy(GuardMode::detect, NptIntegrity::merkle));
  }
  psp::Status map_frame(std::uint64_t gpa, std::uint64_t hpa, bool shared = false) {
    psp::MapPermissions perms;
    perms.shared = shared;
    return w.map_frames(a, gpa, hpa, 1, perms).result.status;
  }
  GuardWorld w;
  psp::VmHandle a = 0;
  psp::VmHandle b = 0;
};

TEST_P(Ownership, FramesOfOthersThePspAndTablesAreRefused) {
  const std::uint64_t other_vm = w.frame_of(b, 0x100000);
  const std::uint64_t psp_frame = *w.frame_used_as(b, hw::FrameUse::merkle);
  const std::uint64_t own_table = w.info(a).npt_root;
  const std::uint64_t own_page = w.frame_of(a, 0x100000);
  for (std::uint64_t hpa : {other_vm, psp_frame, own_table, own_page}) {
    const psp::Response r = w.map_frames(a, 0x50000000, hpa);
    EXPECT_EQ(r.result.status, psp::Status::frame_not_available) << std::hex << hpa;
    EXPECT_EQ(r.result.detail, hpa);
  }
  // Nor may they be donated as table frames.
  EXPECT_EQ(w.psp().execute(psp::NptDonate{a, {other_vm}}).result.status,
            psp::Status::frame_not_available);
  EXPECT_EQ(w.psp().execute(psp::NptDonate{a, {psp_frame}}).result.status,
            psp::Status::frame_not_available);
}

TEST_P(Ownership, DoubleMappingIsRefusedUnlessShared) {
  const std::uint64_t frame = w.platform->frames().allocate(1)->hpa;
  EXPECT_EQ(map_frame(0x50000000, frame), psp::Status::success);
  EXPECT_EQ(map_frame(0x50001000, frame), psp::Status::frame_not_available);
  EXPECT_EQ(w.psp().execute(psp::NptMap{b, 0x50000000, frame, 1, {}}).result.status,
            psp::Status::frame_not_available);
  const std::uint64_t shared = w.platform->frames().allocate(1)->hpa;
  EXPECT_EQ(map_frame(0x50002000, shared, true), psp::Status::success);
  EXPECT_EQ(map_frame(0x50003000, shared, true), psp::Status::success);
  EXPECT_EQ(w.mc().tag(shared), hw::FrameTag{});  // shared memory stays the host's
}

TEST_P(Ownership, DonatedFramesAreAccountedAndUnmappedFramesComeBackScrubbed) {
  const psp::VmInfo before = w.info(a);
  const std::size_t held_before = before.table_pages + before.table_pool + before.guard_frames;
  w.donate(a, 40);
  // A 4 MiB range at 1 TiB needs new tables at three levels (and Merkle frames).
  ASSERT_TRUE(w.map(a, 0x10000000000, 1024).ok());
  const psp::VmInfo after = w.info(a);
  EXPECT_GT(after.table_pages, before.table_pages);
  EXPECT_EQ(after.table_pages + after.table_pool + after.guard_frames, held_before + 40);
  // Every donated frame is the VM's (npt or merkle), none went back to the host.
  std::size_t npt_frames = 0, merkle_frames = 0;
  for (std::uint64_t hpa : w.mc().frames_of(a)) {
    npt_frames += w.mc().tag(hpa).use == hw::FrameUse::npt ? 1u : 0u;
    merkle_frames += w.mc().tag(hpa).use == hw::FrameUse::merkle ? 1u : 0u;
  }
  EXPECT_EQ(npt_frames, after.table_pages + after.table_pool);
  EXPECT_EQ(merkle_frames, after.guard_frames);
  // An unmapped frame stays the VM's until its vCPU has flushed (TLB tracking); it comes
  // back scrubbed: the next owner reads zeros, not the guest's old contents.
  const std::uint64_t frame = w.frame_of(a, 0x10000000000);
  Bytes secret(hw::kFrameSize, 0x5a);
  w.mc().write(frame, secret, hw::kHostAccess);  // something non-zero in guest memory
  ASSERT_TRUE(w.vmm->unmap(a, 0x10000000000, 1).ok());
  EXPECT_FALSE(npt::walk(w.mc(), after.npt_root, 0x10000000000, npt::Access::read).ok());
  EXPECT_EQ(map_frame(0x50000000, frame, true), psp::Status::success);  // reusable
  EXPECT_EQ(w.mc().tag(frame), hw::FrameTag{});  // shared: the host's memory again
  Bytes seen(hw::kFrameSize, 1);
  w.mc().read(frame, seen, hw::kHostAccess);
  EXPECT_EQ(seen, Bytes(hw::kFrameSize, 0));
  EXPECT_EQ(w.psp().execute(psp::NptUnmap{a, 0x10000000000, 1}).result.status,
            psp::Status::not_mapped);
}

INSTANTIATE_TEST_SUITE_P(Integrity, Ownership,
                         ::testing::Values(NptIntegrity::full, NptIntegrity::merkle),
                         [](const auto& param_info) {
                           return std::string(measure::to_string(param_info.param));
                         });

TEST(LargeGuests, SparseMappingsOverOneTebibyteAreGuarded) {
  GuardWorld w;
  const auto vm =
      w.launch("hello", guard_policy(GuardMode::detect, NptIntegrity::merkle), 1ull << 40);
  // One 16-page run in every GiB of the first TiB, at varying offsets.
  for (std::uint64_t g = 1; g < 1024; ++g) {
    ASSERT_TRUE(w.map(vm, (g << 30) + (g % 500) * 0x200000, 16).ok()) << g;
  }
  const psp::VmInfo info = w.info(vm);
  EXPECT_GT(info.table_pages, 2 * 1023u);  // a level-1 and a leaf table per GiB
  EXPECT_LE(info.private_memory, 4096u);   // whatever the guest size
  const auto [stored, fresh] = *w.psp().npt_digest_check(vm);
  EXPECT_EQ(stored, fresh);
  EXPECT_TRUE(w.tick().empty());
  // An edit at the far end (the last GiB) is refused by a walk through it and found by
  // the periodic check.
  const std::uint64_t last = (1023ull << 30) + (1023 % 500) * 0x200000;
  const std::uint64_t at = w.entry_at(vm, last + 5 * hw::kFrameSize);
  w.write_u64(at, w.read_u64(at) | npt::kExecutable);
  EXPECT_EQ(w.map(vm, last + 16 * hw::kFrameSize).result.status, psp::Status::success)
      << "another chunk of the same leaf table";
  // Entries 4..7 share the edited chunk: the check comes before already_mapped.
  EXPECT_EQ(w.map(vm, last + 7 * hw::kFrameSize).result.status, psp::Status::npt_tampered);
  EXPECT_EQ(w.tick(), std::vector<psp::VmHandle>{vm});
}

// The amortised periodic check: with B table pages per tick, tampering with any page is
// found within ceil(P / B) ticks, P the table pages, wherever the sweep stands.
TEST(PeriodicCheck, AmortisedSweepFindsTamperingWithinTheStatedBound) {
  GuardWorld w;
  w.pages_per_tick = 2;
  // Every VM gets the same tables: the firmware's and three distant GiBs' (11 pages).
  const auto launch = [&w] {
    const auto vm = w.launch("hello", guard_policy(GuardMode::detect, NptIntegrity::merkle));
    for (std::uint64_t g : {3ull, 200ull, 900ull}) EXPECT_TRUE(w.map(vm, g << 30).ok());
    return vm;
  };
  const std::uint64_t table_pages = w.info(launch()).table_pages;
  const std::uint64_t bound = (table_pages + w.pages_per_tick - 1) / w.pages_per_tick;
  std::uint64_t worst = 0;
  for (std::uint64_t phase = 0; phase < bound; ++phase) {
    const auto vm = launch();
    ASSERT_EQ(w.info(vm).table_pages, table_pages);
    // Let the sweep advance `phase` ticks (each VM's sweep has its own position), then
    // tamper with the leaf table at 200 GiB.
    EXPECT_TRUE(w.tick(phase).empty());
    const std::uint64_t at = w.entry_at(vm, 200ull << 30);
    w.write_u64(at, w.read_u64(at) ^ 1);  // not present: the page disappears
    std::uint64_t ticks = 0;
    while (w.info(vm).state != psp::VmState::stopped && ticks <= bound) {
      (void)w.tick();
      ++ticks;
    }
    EXPECT_LE(ticks, bound) << "phase " << phase;
    EXPECT_EQ(w.info(vm).stop_reason, psp::StopReason::npt_tampered);
    worst = std::max(worst, ticks);
  }
  EXPECT_GT(worst, 1u);  // the bound is not trivially met by checking everything at once
}

// The PSP timer on the simulated clock inside a real run: memwalk maps ~70 ranges while
// an entry it never walks has been changed; the check stops it within the bound.
TEST(PeriodicCheck, StopsARunningGuestOnTheSimulatedClock) {
  GuardWorld w;
  const auto vm = w.launch("memwalk", guard_policy(GuardMode::detect, NptIntegrity::merkle));
  ASSERT_TRUE(w.map(vm, 0xf000000).ok());  // 240 MiB: a leaf table memwalk never walks
  const std::uint64_t at = w.entry_at(vm, 0xf000000);
  w.write_u64(at, w.read_u64(at) ^ (1ull << 13));
  constexpr std::uint64_t kInterval = 200;  // sim-us
  w.vmm->set_check_interval(kInterval, 1);
  const std::uint64_t ticks_before = w.psp().check_timer().ticks();
  const std::uint64_t start = w.vmm->simulated_us();
  const RunResult r = w.vmm->run(vm);
  EXPECT_EQ(r.fate, VmFate::stopped_by_psp) << r.detail;
  EXPECT_NE(r.detail.find("npt_tampered"), std::string::npos);
  EXPECT_NE(r.console, fmt::format("memwalk checksum {:016x}\n", test::memwalk_checksum()));
  // Found within ceil(P / 1) ticks of the first one, P the table pages at the end.
  const std::uint64_t ticks = w.psp().check_timer().ticks() - ticks_before;
  EXPECT_GE(ticks, 1u);
  // Every vCPU entry ends at the timer's next tick, so no tick is skipped and the clock
  // passes a deadline by one exit's cost at most.
  EXPECT_LE(ticks, w.info(vm).table_pages);
  EXPECT_LE(r.stats.simulated_us - start, (w.info(vm).table_pages + 1) * kInterval);
  EXPECT_EQ(w.map(vm, 0xf001000).result.status, psp::Status::vm_stopped);
}

TEST(PeriodicCheck, TheSameRunGivesTheSameSimulatedTime) {
  std::vector<std::uint64_t> times;
  std::vector<std::uint64_t> code;
  for (int i = 0; i < 2; ++i) {
    GuardWorld w;
    const auto vm = w.launch("memwalk", guard_policy(GuardMode::detect, NptIntegrity::merkle));
    w.vmm->set_check_interval(500);
    const RunResult r = w.vmm->run(vm);
    EXPECT_EQ(r.fate, VmFate::exited);
    times.push_back(r.stats.simulated_us);
    code.push_back(r.stats.code_bytes);
    EXPECT_GT(w.psp().check_timer().ticks(), 0u);
  }
  EXPECT_EQ(times[0], times[1]);
  EXPECT_EQ(code[0], code[1]);
  EXPECT_GT(code[0], 0u);
}

}  // namespace guard_properties

}  // namespace
}  // namespace cvmsim::vmm
