// Writes of the PSP's non-volatile storage that fail (a path that is a file, a write cut
// short, a read-only directory, a counter that cannot be written): each is a named fault
// and leaves the stored state as it was.
#include "psp/nv_storage_fixture.h"

namespace cvmsim::psp::nv_test {
namespace {

class NvStorageWrite : public NvStorageTest {};

TEST_P(NvStorageWrite, AWriteIntoAPathThatIsAFileFailsAndChangesNothing) {
  write_file_atomic(dir_, Bytes{1, 2, 3});  // the psp-nv path is a regular file
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);  // nothing stored yet
  EXPECT_EQ(nv.store(record(1, 1)), NvFault::write_failed);
  EXPECT_EQ(nv.sequence(), 0u);
  EXPECT_EQ(nv.find(uuid_of(1)), nullptr);
  EXPECT_EQ(read(dir_), (Bytes{1, 2, 3}));
}

// A write that fails half-way (the file system refuses more bytes): the old storage stays,
// in memory and on disk. RLIMIT_FSIZE binds root too, unlike a read-only directory.
TEST_P(NvStorageWrite, AWriteThatFailsHalfwayKeepsTheOldState) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  const DiskRecord first = record(1, 1);
  ASSERT_EQ(nv.store(first), NvFault::none);
  const Bytes storage_before = read(storage());
  const Bytes counter_before = read(counter());

  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 16;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const NvFault fault = nv.store(record(2, 1, 8));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_EQ(fault, NvFault::write_failed);
  EXPECT_EQ(nv.sequence(), 1u);
  EXPECT_EQ(*nv.find(first.image_uuid), first);
  EXPECT_EQ(nv.find(uuid_of(2)), nullptr);
  EXPECT_EQ(read(storage()), storage_before);
  EXPECT_EQ(read(counter()), counter_before);
  int entries = 0;  // no temporary file left behind
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 2);
  // The same storage works again once the file system does.
  EXPECT_EQ(nv.store(record(2, 1, 8)), NvFault::none);
  EXPECT_EQ(nv.sequence(), 2u);
}

// A directory the PSP may not write. Root ignores the mode, so as root the store runs
// with the effective user id of `nobody` (which may traverse to the directory and read it,
// not write it).
TEST_P(NvStorageWrite, AReadOnlyDirectoryIsAFailedWrite) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  const Bytes storage_before = read(storage());
  const Bytes counter_before = read(counter());
  constexpr auto kSearch = fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec;
  fs::permissions(tmp_.path(), kSearch);
  fs::permissions(tmp_ / "chip", kSearch);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                            fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  const bool as_root = ::geteuid() == 0;
  constexpr uid_t kNobody = 65534;
  const bool dropped = as_root && ::seteuid(kNobody) == 0;
  const bool can_run = !as_root || dropped;
  const NvFault fault = can_run ? nv.store(record(2, 1)) : NvFault::none;
  if (dropped) {
    ASSERT_EQ(::seteuid(0), 0);
  }
  fs::permissions(dir_, fs::perms::owner_all);
  fs::permissions(tmp_.path(), fs::perms::owner_all);
  if (!can_run) GTEST_SKIP() << "root, and cannot take another user id";
  EXPECT_EQ(fault, NvFault::write_failed);
  EXPECT_EQ(nv.find(uuid_of(2)), nullptr);
  EXPECT_EQ(*nv.find(uuid_of(1)), record(1, 1));
  EXPECT_EQ(nv.sequence(), 1u);
  EXPECT_EQ(read(storage()), storage_before);
  EXPECT_EQ(read(counter()), counter_before);
}

// The counter cannot be written after storage.bin went in: the store has happened (the
// storage is one ahead, which load accepts), and the next store must bring the counter
// level before it writes a storage two ahead.
TEST_P(NvStorageWrite, ACounterThatCannotBeWrittenIsCaughtUpBeforeTheNextStore) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  fs::remove(counter());
  fs::create_directories(counter() / "blocker");  // rename over it fails

  EXPECT_EQ(nv.store(record(2, 1)), NvFault::none);
  EXPECT_EQ(nv.sequence(), 2u);
  EXPECT_NE(nv.find(uuid_of(2)), nullptr);
  const Bytes storage_2 = read(storage());
  // Now the counter must catch up first, which fails: nothing changes.
  EXPECT_EQ(nv.store(record(3, 1)), NvFault::write_failed);
  EXPECT_EQ(nv.sequence(), 2u);
  EXPECT_EQ(nv.find(uuid_of(3)), nullptr);
  EXPECT_EQ(read(storage()), storage_2);

  fs::remove_all(counter());
  EXPECT_EQ(nv.store(record(3, 1)), NvFault::none);
  EXPECT_EQ(read(counter()), sealed_counter(suite(), seal_key_, 3));
  NvStorage again = open();
  ASSERT_EQ(again.load(), NvFault::none);
  EXPECT_EQ(again.sequence(), 3u);
  for (std::uint8_t n = 1; n <= 3; ++n) EXPECT_NE(again.find(uuid_of(n)), nullptr);
}

// Two processes running the same chip's PSP (two VMs of different images): each store
// keeps the records the other stored since, instead of writing back its own old copy.
TEST_P(NvStorageWrite, TwoProcessesOfOneChipKeepEachOthersRecords) {
  NvStorage a = open();
  NvStorage b = open();
  ASSERT_EQ(a.load(), NvFault::none);
  ASSERT_EQ(b.load(), NvFault::none);  // both read the empty storage
  ASSERT_EQ(a.store(record(1, 1)), NvFault::none);
  ASSERT_EQ(b.store(record(2, 1)), NvFault::none);
  ASSERT_EQ(a.store(record(1, 2)), NvFault::none);
  EXPECT_EQ(a.sequence(), 3u);
  EXPECT_EQ(*a.find(uuid_of(2)), record(2, 1));
  NvStorage later = open();
  ASSERT_EQ(later.load(), NvFault::none);
  EXPECT_EQ(later.sequence(), 3u);
  EXPECT_EQ(*later.find(uuid_of(1)), record(1, 2));
  EXPECT_EQ(*later.find(uuid_of(2)), record(2, 1));
  EXPECT_EQ(read(counter()), sealed_counter(suite(), seal_key_, 3));
}

// The host puts back both files of an earlier store, a pair that verifies on its own: the
// process that wrote the later ones refuses them at its next store, and from then on.
TEST_P(NvStorageWrite, AnOlderPairPutBackWhileRunningIsRolledBack) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  const Bytes storage_1 = read(storage());
  const Bytes counter_1 = read(counter());
  ASSERT_EQ(nv.store(record(1, 2)), NvFault::none);
  fs::remove(storage());
  fs::remove(counter());
  write(storage(), storage_1);
  write(counter(), counter_1);
  EXPECT_EQ(nv.store(record(1, 3)), NvFault::rolled_back);
  EXPECT_EQ(nv.find(uuid_of(1)), nullptr);
  EXPECT_EQ(nv.store(record(1, 3)), NvFault::rolled_back);
  EXPECT_EQ(read(storage()), storage_1);
}

// A store killed before its rename leaves its temporary file; the next open removes such
// files (under the lock, so never one of a live store) and nothing else.
TEST_P(NvStorageWrite, TemporariesOfAKilledStoreAreRemovedAtTheNextOpen) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  write(dir_ / ".storage.bin.tmp-a1B2c3", Bytes(100, 1));
  write(dir_ / ".counter.bin.tmp-XyZ789", Bytes(10, 2));
  write(dir_ / ".notes.tmp-a1B2c3", Bytes(3, 3));
  NvStorage after = open();
  ASSERT_EQ(after.load(), NvFault::none);
  EXPECT_EQ(*after.find(uuid_of(1)), record(1, 1));
  EXPECT_FALSE(fs::exists(dir_ / ".storage.bin.tmp-a1B2c3"));
  EXPECT_FALSE(fs::exists(dir_ / ".counter.bin.tmp-XyZ789"));
  EXPECT_TRUE(fs::exists(dir_ / ".notes.tmp-a1B2c3"));
  EXPECT_TRUE(fs::exists(storage()));
  EXPECT_TRUE(fs::exists(counter()));
}

INSTANTIATE_TEST_SUITE_P(Suites, NvStorageWrite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         suite_name);

}  // namespace
}  // namespace cvmsim::psp::nv_test
