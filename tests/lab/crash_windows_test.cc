// Kills the random ones of crash_consistency_test.cc almost never hit: inside each window
// of the PSP's write protocol, and inside the controller's write of a request's sectors (a
// torn write), each settled at the next boot (the lab: crash_lab.h).
#include "lab/crash_lab.h"

namespace cvmsim::lab::crash_test {
namespace {

// Random kills hit the short windows of the write protocol by chance only, so the writer is
// also stopped (SIGSTOP) at random moments until the host sees it in each window, and
// killed there: a write announced in the NV storage with the disk still at the committed
// root (sectors being written, or not yet); the disk's tags ahead of the committed root
// (the commit not yet stored); a store of the NV storage in progress; storage.bin one ahead
// of counter.bin. At every moment seen, the disk is ahead of the committed root only while
// a write is announced. After each kill the next boot starts and the disk is consistent.
TEST(CrashConsistencyWindows, AKillInEachWindowOfTheWriteProtocolIsSettled) {
  ASSERT_EQ(thread_count(), 1);
  CrashLab lab(SuiteId::sm, 4096, /*integrity=*/true);
  struct Window {
    const char* name;
    bool (*in)(const Moment&);
  };
  const Window windows[] = {
      {"a write announced, the disk at the committed root",
       [](const Moment& m) { return m.nv.pending && !m.disk_ahead; }},
      {"the disk ahead of the committed root", [](const Moment& m) { return m.disk_ahead; }},
      {"inside a store of the NV storage", [](const Moment& m) { return m.new_temp_files > 0; }},
      {"storage.bin one ahead of counter.bin", [](const Moment& m) { return m.nv.counter_behind; }},
  };
  std::uint64_t round = 0;
  unsigned seed = 11;
  std::string log;
  for (const Window& window : windows) {
    SCOPED_TRACE(window.name);
    int stops = 0;
    int unannounced = 0;  // moments with the disk ahead and no write announced
    bool caught = false;
    const auto killed = lab.kill_at_a_moment(
        [&](const Moment& m) {
          if (m.disk_ahead && !m.nv.pending) ++unannounced;
          caught = window.in(m);
          return caught;
        },
        round + 2, seed++, stops);
    ASSERT_TRUE(killed_by_us(killed.status)) << killed.console;
    EXPECT_EQ(unannounced, 0) << "the disk's tags were ahead of the committed root with no "
                                 "write announced in the NV storage";
    ASSERT_TRUE(caught) << "never seen in " << stops << " moments (through round " << round + 2
                        << ")\n"
                        << killed.console;
    const ChildRun run = lab.verify(true);
    const auto v = consistent(run);
    ASSERT_TRUE(v.has_value()) << "the boot after a kill " << window.name
                               << " failed: " << run.exit_status << "\n"
                               << run.console;
    EXPECT_GE(v->round, killed.last_round_done);
    EXPECT_GE(v->round, round);
    round = v->round;
    log += fmt::format("  {}: after {} moments; state round {}, requests of the next done {}/{}\n",
                       window.name, stops, v->round, v->done, v->requests);
  }
  std::printf("kills in the windows of the write protocol:\n%s", log.c_str());
}

// A kill inside the controller's write of a request's sectors (the page cache takes a
// pwrite page by page, and kill -9 may stop it between two), which random kills almost
// never hit: the test stops the writer (SIGSTOP) at random moments of its first round until
// the NV storage holds a pending multi-sector write whose sectors and tags are all on disk,
// kills it there, and puts back the old ciphertext of the second half of the sectors and
// the old tags: the disk a kill after half the sectors leaves. The next boot must settle
// each sector on its own tag (the guest sees one torn request); with one sector that
// matches neither tag, the boot is refused (unsettled_write).
TEST(CrashConsistencyTorn, AWriteCutShortInsideItsSectorsSettlesSectorBySector) {
  ASSERT_EQ(thread_count(), 1);
  constexpr std::uint32_t kSector = 4096;
  constexpr std::uint64_t kTag = crypto::kSectorTagSize;
  CrashLab lab(SuiteId::sm, kSector, /*integrity=*/true);
  const Bytes fresh = read_file(lab.image());
  const std::uint64_t data_offset = lab.packed().data_offset;
  const std::uint64_t tag_offset = lab.packed().integrity->tag_offset;
  std::optional<psp::PendingDiskWrite> caught;
  int stops = 0;
  const auto killed = lab.kill_at_a_moment(
      [&](const Moment& m) {
        if (!m.nv.pending_write || m.nv.pending_write->old_tags.size() < 2 * kTag) return false;
        const psp::PendingDiskWrite& w = *m.nv.pending_write;
        const std::uint64_t tags_at = tag_offset + w.first_sector * kTag;
        // Round 1 writes every sector for the first time: the packed image holds the old.
        if (slice(m.image, tags_at, w.new_tags.size()) != w.new_tags ||
            slice(fresh, tags_at, w.old_tags.size()) != w.old_tags) {
          return false;
        }
        caught = w;
        return true;
      },
      /*last_round=*/1, /*seed=*/7, stops);
  ASSERT_TRUE(killed_by_us(killed.status)) << killed.console;
  ASSERT_TRUE(caught.has_value()) << "no pending multi-sector write caught in round 1 (" << stops
                                  << " stops)\n"
                                  << killed.console;
  const std::uint64_t count = caught->old_tags.size() / kTag;
  const std::uint64_t kept = count / 2;  // sectors the cut-short write reached
  Bytes torn = read_file(lab.image());
  for (std::uint64_t k = kept; k < count; ++k) {
    const std::uint64_t at = data_offset + (caught->first_sector + k) * kSector;
    put(torn, at, slice(fresh, at, kSector));
  }
  const std::uint64_t tags_at = tag_offset + caught->first_sector * kTag;
  put(torn, tags_at, slice(fresh, tags_at, count * kTag));

  // One sector matching neither tag (another sector's ciphertext): refused, read-only.
  Bytes garbled = torn;
  const std::uint64_t bad = data_offset + (caught->first_sector + kept) * kSector;
  put(garbled, bad, slice(fresh, bad + kSector, kSector));
  write_file_atomic(lab.image(), garbled);
  const ChildRun refused = lab.verify(false);
  EXPECT_TRUE(refused_with(refused, static_cast<std::uint32_t>(psp::Status::disk_rolled_back),
                           psp::DiskRootDetail::unsettled_write))
      << refused.exit_status << "\n"
      << refused.console;

  // The torn write itself: settled sector by sector.
  write_file_atomic(lab.image(), torn);
  const ChildRun run = lab.verify(true);
  const auto v = consistent(run);
  ASSERT_TRUE(v.has_value()) << run.console;
  EXPECT_EQ(v->round, 0u);
  EXPECT_EQ(v->torn, 1u) << run.console;
  EXPECT_FALSE(lab.peek().pending) << "the settled write is committed";
  // The settled tags are in the file: the next boot finds the same, with nothing pending.
  const auto again = consistent(lab.verify(true));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->at_next, v->at_next);
  EXPECT_EQ(again->torn, 1u);
  std::printf("torn write: caught after %d stops, %llu sectors from sector %llu, %llu kept\n",
              stops, static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(caught->first_sector),
              static_cast<unsigned long long>(kept));
}

}  // namespace
}  // namespace cvmsim::lab::crash_test
