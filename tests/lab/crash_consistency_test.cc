// Crash consistency of authenticated images (pack --integrity): kill -9 at random moments
// during the guest's writes loses at most the writes in flight, and the next boot starts
// and agrees on the root (the lab: crash_lab.h). With the controls that show the verify
// boot can fail: rolled-back tags, image or storage, and stale sectors on a plain image.
#include "lab/crash_lab.h"

namespace cvmsim::lab::crash_test {
namespace {

struct Param {
  SuiteId suite;
  std::uint32_t sector_size;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << crypto::to_string(p.suite) << "_" << p.sector_size;
}

class CrashConsistency : public ::testing::TestWithParam<Param> {};

// kill -9 at random moments while the guest writes: every next boot starts (the root
// agrees, a write cut short is settled) and finds every completed write and nothing torn
// but the writes in flight.
TEST_P(CrashConsistency, KillNineAtRandomMomentsLosesOnlyTheWritesInFlight) {
  constexpr int kKills = 12;
  ASSERT_EQ(thread_count(), 1) << "the test forks: its own process must have one thread";
  CrashLab lab(GetParam().suite, GetParam().sector_size, /*integrity=*/true);
  std::mt19937 rng(0x5eed0000u + GetParam().sector_size + static_cast<unsigned>(GetParam().suite));
  // Kills land at a random fraction of a round's time after the guest started writing (the
  // first writer measures a round: the fractions then cover whole rounds, their state block
  // writes and flushes, on a fast or a slow host alike), or, every fourth, at a random time
  // after the fork: while the VM boots, and settles the write the previous kill cut short
  // (the verify boot before it ran read-only and left the write pending).
  std::uniform_real_distribution<double> fraction(0.02, 1.25);
  std::uniform_int_distribution<int> early_ms(0, 150);

  int with_pending = 0, mid_round = 0, torn = 0, counter_behind = 0, in_store = 0, early = 0;
  std::uint64_t round = 0;  // the state block's round after the last verify
  std::size_t temp_files = 0;
  double round_ms = 0;  // a round's time, measured by the first writer
  std::string log;
  for (int i = 0; i < kKills; ++i) {
    const bool kill_early = i % 4 == 3;
    const double f = fraction(rng);
    const int early_delay = early_ms(rng);
    int delay = 0;
    bool on_time = true;
    const auto killed =
        lab.write_and_kill([&](ConsoleLines& lines, Clock::time_point forked, pid_t) {
          if (kill_early) {
            delay = early_delay;
            std::this_thread::sleep_until(forked + milliseconds(delay));
            return;
          }
          on_time = lines.wait_for("disk_writer: writing from round", milliseconds(120'000));
          if (on_time && i == 0) {
            // The first writer completes a round (the rounds must progress) and times it.
            const auto started = Clock::now();
            on_time = lines.wait_for("done", milliseconds(120'000));
            round_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
          }
          delay = std::max(5, static_cast<int>(f * round_ms));
          std::this_thread::sleep_for(milliseconds(delay));
        });
    SCOPED_TRACE(fmt::format("kill {} ({} ms {})", i, delay,
                             kill_early ? "after the fork" : "after writing started"));
    ASSERT_TRUE(killed_by_us(killed.status)) << "the writer ended before the kill:\n"
                                             << killed.console;
    ASSERT_TRUE(on_time) << "the writer did not start writing:\n" << killed.console;
    early += killed.started ? 0 : 1;

    const NvPeek nv = lab.peek();
    ASSERT_TRUE(nv.loaded) << "the kill left an NV storage that does not load";
    const bool killed_in_store = nv.temp_files > temp_files;
    temp_files = nv.temp_files;
    with_pending += nv.pending ? 1 : 0;
    counter_behind += nv.counter_behind ? 1 : 0;
    in_store += killed_in_store ? 1 : 0;

    const bool writable = i % 2 == 1;
    const ChildRun run = lab.verify(writable);
    const auto v = consistent(run);
    ASSERT_TRUE(v.has_value()) << "the boot after kill " << i << " (NV: record " << nv.record
                               << ", pending " << nv.pending << ") failed: " << run.fate << " "
                               << run.exit_status << "\n"
                               << run.console << "\nthe writer's console:\n"
                               << killed.console;
    // A completed round is never lost (its state block was written and flushed), the state
    // never moves back, and it is at most one round (the one in flight) ahead of the last
    // round the writer reported.
    EXPECT_GE(v->round, killed.last_round_done) << run.console;
    EXPECT_GE(v->round, round) << run.console;
    EXPECT_LE(v->round, std::max(round, killed.last_round_done) + 1) << run.console;
    EXPECT_LE(v->torn, 1u);
    round = v->round;
    mid_round += v->at_next > 0 ? 1 : 0;
    torn += v->torn > 0 ? 1 : 0;
    log += fmt::format(
        "  kill {:2}: {:4} ms{} | NV {:>7}{}{} | state round {:3}, requests of the "
        "next done {:2}/{}, sectors at R+1 {:3}{}\n",
        i, delay, kill_early ? " after fork " : " after start", nv.pending ? "pending" : "clean",
        nv.counter_behind ? ", counter behind" : "", killed_in_store ? ", in a store" : "",
        v->round, v->done, v->requests, v->at_next, v->torn > 0 ? ", torn request" : "");
  }
  EXPECT_GE(round, 1u) << "no round completed across the kills";
  std::printf(
      "crash consistency (%s, %u-byte sectors): %d kills, %d with a write pending in the "
      "NV storage, %d mid-round, %d with a torn request, %d between storage and counter, "
      "%d inside an NV store, %d during boot; a round took %.0f ms; final round %llu\n%s",
      std::string(crypto::to_string(GetParam().suite)).c_str(), GetParam().sector_size, kKills,
      with_pending, mid_round, torn, counter_behind, in_store, early, round_ms,
      static_cast<unsigned long long>(round), log.c_str());
  RecordProperty("kills", kKills);
  RecordProperty("kills_with_pending_write", with_pending);
  RecordProperty("kills_mid_round", mid_round);
  RecordProperty("kills_torn_request", torn);
  RecordProperty("final_round", static_cast<int>(round));
  RecordProperty("round_ms", static_cast<int>(round_ms));
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, CrashConsistency,
                         ::testing::Values(Param{SuiteId::sm, 4096}, Param{SuiteId::sm, 512},
                                           Param{SuiteId::nist, 4096}),
                         [](const auto& param_info) {
                           return fmt::format("{}_{}", crypto::to_string(param_info.param.suite),
                                              param_info.param.sector_size);
                         });

// The verify boot is not trivially passing: after a kill, a host that puts back the tag
// area, the whole image or the NV storage of an earlier moment is refused with
// disk_rolled_back (23), and with everything as the kill left it the boot starts again.
TEST(CrashConsistencyControls, RollingBackTagsImageOrStorageAfterAKillIsRefused) {
  ASSERT_EQ(thread_count(), 1);
  CrashLab lab(SuiteId::sm, 4096, /*integrity=*/true);
  const auto after_round = [](std::uint64_t n) {
    return [n](ConsoleLines& lines, Clock::time_point, pid_t) {
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!lines.wait_for("done", milliseconds(120'000))) return;
      }
      std::this_thread::sleep_for(milliseconds(30));  // into the next round
    };
  };
  const auto first = lab.write_and_kill(after_round(1));
  ASSERT_TRUE(killed_by_us(first.status)) << first.console;
  ASSERT_TRUE(consistent(lab.verify(true)).has_value());
  const Bytes old_image = read_file(lab.image());
  const Bytes old_storage = read_file(lab.nv_dir() / "storage.bin");

  const auto second = lab.write_and_kill(after_round(1));
  ASSERT_TRUE(killed_by_us(second.status)) << second.console;
  const Bytes image = read_file(lab.image());
  const Bytes storage = read_file(lab.nv_dir() / "storage.bin");
  const auto rolled_back = static_cast<std::uint32_t>(psp::Status::disk_rolled_back);

  // The tag area of the earlier moment: the tags give another root than the PSP's record
  // (and a write still pending cannot be settled against them either).
  Bytes tags_back = image;
  const std::uint64_t tag_offset = lab.packed().integrity->tag_offset;
  std::copy(old_image.begin() + static_cast<std::ptrdiff_t>(tag_offset), old_image.end(),
            tags_back.begin() + static_cast<std::ptrdiff_t>(tag_offset));
  write_file_atomic(lab.image(), tags_back);
  const ChildRun tags_run = lab.verify(false);
  EXPECT_TRUE(refused_with(tags_run, rolled_back, psp::DiskRootDetail::root_mismatch) ||
              refused_with(tags_run, rolled_back, psp::DiskRootDetail::unsettled_write))
      << tags_run.exit_status << "\n"
      << tags_run.console;

  // The whole image (data and tags, consistent with each other) of the earlier moment.
  write_file_atomic(lab.image(), old_image);
  const ChildRun image_run = lab.verify(false);
  EXPECT_TRUE(refused_with(image_run, rolled_back, psp::DiskRootDetail::root_mismatch))
      << image_run.exit_status << "\n"
      << image_run.console;

  // The image as the kill left it, with the NV storage of the earlier moment: older than
  // the PSP's counter.
  write_file_atomic(lab.image(), image);
  write_file_atomic(lab.nv_dir() / "storage.bin", old_storage, 0600);
  const ChildRun storage_run = lab.verify(false);
  EXPECT_TRUE(refused_with(storage_run, rolled_back, psp::DiskRootDetail::storage_refused))
      << storage_run.exit_status << "\n"
      << storage_run.console;

  // Everything as the kill left it: the boot starts and the disk is consistent.
  write_file_atomic(lab.nv_dir() / "storage.bin", storage, 0600);
  const ChildRun run = lab.verify(true);
  const auto v = consistent(run);
  ASSERT_TRUE(v.has_value()) << run.console;
  EXPECT_GE(v->round, second.last_round_done);
}

// The guest's own check is not vacuous either: on an image without integrity (nothing
// stops the host), putting back the packed image's first extent after two rounds leaves
// sectors of round 0 under a state block of round >= 2, which verify reports (exit 31).
TEST(CrashConsistencyControls, TheGuestFindsStaleSectorsTheHostPutBackOnAPlainImage) {
  ASSERT_EQ(thread_count(), 1);
  CrashLab lab(SuiteId::sm, 4096, /*integrity=*/false);
  const Bytes fresh = read_file(lab.image());
  const auto killed = lab.write_and_kill([](ConsoleLines& lines, Clock::time_point, pid_t) {
    (void)lines.wait_for("round 2 done", milliseconds(120'000));
  });
  ASSERT_TRUE(killed_by_us(killed.status)) << killed.console;
  ASSERT_GE(killed.last_round_done, 2u) << killed.console;
  const auto before = consistent(lab.verify(true));
  ASSERT_TRUE(before.has_value());
  ASSERT_GE(before->round, 2u);

  Bytes image = read_file(lab.image());
  const auto extent = static_cast<std::ptrdiff_t>(lab.free_area_offset());
  std::copy(fresh.begin() + extent, fresh.begin() + extent + 0x10000, image.begin() + extent);
  write_file_atomic(lab.image(), image);
  const ChildRun run = lab.verify(true);
  EXPECT_EQ(run.exit_status, 31) << run.console;
  EXPECT_NE(run.console.find("disk_writer: INCONSISTENT sector"), std::string::npos) << run.console;
}

}  // namespace
}  // namespace cvmsim::lab::crash_test
