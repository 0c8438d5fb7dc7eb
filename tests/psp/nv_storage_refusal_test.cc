// What a host that owns the PSP's non-volatile storage files can do to them, and the
// named fault each gets: edits, files of another chip, old copies put back, deletions,
// crashes between the two writes, truncation, garbage and sealed but malformed contents.
#include "psp/nv_storage_fixture.h"

namespace cvmsim::psp::nv_test {
namespace {

class NvStorageRefusal : public NvStorageTest {};

TEST_P(NvStorageRefusal, AnEditedByteAnywhereIsABadSeal) {
  {
    NvStorage nv = open();
    ASSERT_EQ(nv.load(), NvFault::none);
    ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
    ASSERT_EQ(nv.store(record(2, 8, 2)), NvFault::none);
  }
  const Bytes original = read(storage());
  for (std::size_t i = 0; i < original.size(); ++i) {
    Bytes edited = original;
    edited[i] ^= 0x40;
    write(storage(), edited);
    EXPECT_EQ(reopen(), NvFault::bad_seal) << "byte " << i;
  }
  write(storage(), original);
  ASSERT_EQ(reopen(), NvFault::none);

  const Bytes original_counter = read(counter());
  for (std::size_t i = 0; i < original_counter.size(); ++i) {
    Bytes edited = original_counter;
    edited[i] ^= 0x01;
    write(counter(), edited);
    EXPECT_EQ(reopen(), NvFault::bad_seal) << "counter byte " << i;
  }
  // The most useful edit to a host: a counter of 0 (so any old storage passes), resealed
  // without the key.
  Bytes zeroed = original_counter;
  std::fill(zeroed.begin() + 16, zeroed.begin() + 24, 0);
  write(counter(), zeroed);
  EXPECT_EQ(reopen(), NvFault::bad_seal);
}

TEST_P(NvStorageRefusal, FilesOfAnotherChipAreABadSeal) {
  const Bytes other_key = derive_nv_seal_key(crypto::suite(suite()).generate_key());
  {
    NvStorage other(dir_, suite(), other_key);
    ASSERT_EQ(other.load(), NvFault::none);
    ASSERT_EQ(other.store(record(1, 1)), NvFault::none);
  }
  // Both files of the other chip.
  EXPECT_EQ(reopen(), NvFault::bad_seal);
  // Its storage beside this chip's counter.
  write(counter(), sealed_counter(suite(), seal_key_, 1));
  EXPECT_EQ(reopen(), NvFault::bad_seal);
  // A storage forged with the right layout but a guessed key.
  StorageImage forged(suite(), 1, 1);
  forged.add(uuid_of(1), 99);
  write(storage(), forged.sealed(suite(), Bytes(32, 0)));
  EXPECT_EQ(reopen(), NvFault::bad_seal);
  // The same storage with the right key is accepted: the seal is all that refused it.
  write(storage(), forged.sealed(suite(), seal_key_));
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_NE(nv.find(uuid_of(1)), nullptr);
  EXPECT_EQ(nv.find(uuid_of(1))->version, 99u);
}

TEST_P(NvStorageRefusal, AnOlderStorageCopiedBackIsRolledBack) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  const Bytes old_storage = read(storage());
  ASSERT_EQ(nv.store(record(1, 2)), NvFault::none);
  ASSERT_EQ(reopen(), NvFault::none);

  write(storage(), old_storage);  // version 1 again: an older image would pass with it
  NvStorage victim = open();
  EXPECT_EQ(victim.load(), NvFault::rolled_back);
  EXPECT_EQ(victim.find(uuid_of(1)), nullptr);
  EXPECT_EQ(victim.store(record(1, 3)), NvFault::rolled_back);  // and nothing is written
  EXPECT_EQ(read(storage()), old_storage);
}

TEST_P(NvStorageRefusal, ADeletedStorageIsRolledBack) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  fs::remove(storage());
  EXPECT_EQ(reopen(), NvFault::rolled_back);
  // Both files deleted: nothing left to tell (the counter is modelled as replay-protected
  // hardware, which the host cannot erase).
  fs::remove(counter());
  EXPECT_EQ(reopen(), NvFault::none);
}

TEST_P(NvStorageRefusal, AStorageOneAheadOfTheCounterIsAcceptedAndTheCounterRepaired) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  const Bytes counter_1 = read(counter());
  const Bytes storage_1 = read(storage());
  ASSERT_EQ(nv.store(record(1, 2)), NvFault::none);
  // A crash between the two writes of the second store: the old counter is still there.
  write(counter(), counter_1);

  NvStorage after = open();
  ASSERT_EQ(after.load(), NvFault::none);
  EXPECT_EQ(after.sequence(), 2u);
  EXPECT_EQ(after.find(uuid_of(1))->version, 2u);
  EXPECT_EQ(read(counter()), sealed_counter(suite(), seal_key_, 2));
  // Repaired: the first storage, which the old counter accepted, is now behind it.
  write(storage(), storage_1);
  EXPECT_EQ(reopen(), NvFault::rolled_back);
}

TEST_P(NvStorageRefusal, AFirstStoreInterruptedBeforeTheCounterIsAccepted) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  fs::remove(counter());  // the crash came before the first counter.bin
  NvStorage after = open();
  ASSERT_EQ(after.load(), NvFault::none);
  EXPECT_EQ(after.sequence(), 1u);
  EXPECT_TRUE(fs::exists(counter()));
}

TEST_P(NvStorageRefusal, AStorageMoreThanOneAheadOfTheCounterIsRefused) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  const Bytes counter_1 = read(counter());
  ASSERT_EQ(nv.store(record(1, 2)), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 3)), NvFault::none);
  // No crash leaves the counter two behind: it was put back (or deleted), which would let
  // an older storage through next.
  write(counter(), counter_1);
  EXPECT_EQ(reopen(), NvFault::rolled_back);
  fs::remove(counter());
  EXPECT_EQ(reopen(), NvFault::rolled_back);
}

TEST_P(NvStorageRefusal, TruncatedFilesAreFaultsNotExceptions) {
  {
    NvStorage nv = open();
    ASSERT_EQ(nv.load(), NvFault::none);
    ASSERT_EQ(nv.store(record(1, 1, 3)), NvFault::none);
  }
  const Bytes s = read(storage());
  for (std::size_t n = 0; n < s.size(); ++n) {
    write(storage(), ByteView(s).first(n));
    NvFault fault = NvFault::none;
    EXPECT_NO_THROW(fault = reopen()) << n;
    EXPECT_EQ(fault, NvFault::bad_seal) << n;
  }
  write(storage(), s);
  const Bytes c = read(counter());
  for (std::size_t n = 0; n < c.size(); ++n) {
    write(counter(), ByteView(c).first(n));
    NvFault fault = NvFault::none;
    EXPECT_NO_THROW(fault = reopen()) << n;
    EXPECT_EQ(fault, NvFault::bad_seal) << n;
  }
}

TEST_P(NvStorageRefusal, RandomGarbageIsAFaultNotAnException) {
  fs::create_directory(dir_);
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 200; ++i) {
    const std::size_t size = rng() % 600;
    Bytes garbage(size);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    if (i % 2 == 0 && size >= 8) std::copy_n("CVMSNVS1", 8, garbage.begin());
    write(i % 3 == 0 ? counter() : storage(), garbage);
    NvFault fault = NvFault::none;
    EXPECT_NO_THROW(fault = reopen()) << i;
    EXPECT_NE(fault, NvFault::none) << i;
    fs::remove(storage());
    fs::remove(counter());
  }
}

// Contents the PSP never writes, correctly sealed (so only a holder of the key could make
// them): the decoder must still refuse them as malformed, not crash or accept.
TEST_P(NvStorageRefusal, SealedButMalformedContentsAreRefused) {
  fs::create_directory(dir_);
  write(counter(), sealed_counter(suite(), seal_key_, 1));
  auto verdict_of = [&](const Bytes& sealed_storage) {
    write(storage(), sealed_storage);
    return reopen();
  };
  auto seal = [&](const Bytes& body) {
    Bytes out = body;
    append(out, reference_hmac(suite(), seal_key_, body));
    return out;
  };

  StorageImage good(suite(), 1, 2);
  good.add(uuid_of(1), 1, 1);
  good.pending(10, 2);
  good.add(uuid_of(2), 1);
  ASSERT_EQ(verdict_of(good.sealed(suite(), seal_key_)), NvFault::none);

  {  // wrong magic, version, suite, reserved byte
    for (std::size_t offset : {0u, 8u, 10u, 11u}) {
      Bytes body = good.body();
      body[offset] ^= 0x04;
      EXPECT_EQ(verdict_of(seal(body)), NvFault::malformed) << offset;
    }
  }
  {  // the other suite's byte (sealed with this chip's key)
    Bytes body = good.body();
    body[10] = static_cast<std::uint8_t>(suite() == SuiteId::sm ? SuiteId::nist : SuiteId::sm);
    EXPECT_EQ(verdict_of(seal(body)), NvFault::malformed);
  }
  {  // a count larger than the records present, and one smaller (trailing bytes)
    Bytes body = good.body();
    body[12] = 3;
    EXPECT_EQ(verdict_of(seal(body)), NvFault::malformed);
    body[12] = 1;
    EXPECT_EQ(verdict_of(seal(body)), NvFault::malformed);
    body[12] = 0xff;
    body[13] = 0xff;
    body[14] = 0xff;
    body[15] = 0xff;
    EXPECT_EQ(verdict_of(seal(body)), NvFault::malformed);
  }
  {  // UUIDs out of order, and twice the same
    StorageImage image(suite(), 1, 2);
    image.add(uuid_of(2), 1);
    image.add(uuid_of(1), 1);
    EXPECT_EQ(verdict_of(image.sealed(suite(), seal_key_)), NvFault::malformed);
    StorageImage twice(suite(), 1, 2);
    twice.add(uuid_of(1), 1);
    twice.add(uuid_of(1), 2);
    EXPECT_EQ(verdict_of(twice.sealed(suite(), seal_key_)), NvFault::malformed);
  }
  {  // unknown flags, non-zero reserved bytes
    StorageImage image(suite(), 1, 1);
    image.add(uuid_of(1), 1, 0x02);
    EXPECT_EQ(verdict_of(image.sealed(suite(), seal_key_)), NvFault::malformed);
    StorageImage reserved(suite(), 1, 1);
    reserved.add(uuid_of(1), 1);
    reserved.body()[24 + 60] = 1;
    EXPECT_EQ(verdict_of(reserved.sealed(suite(), seal_key_)), NvFault::malformed);
  }
  {  // a pending write above 2048 sectors; one whose range passes 2^64; a huge count
    StorageImage big(suite(), 1, 1);
    big.add(uuid_of(1), 1, 1);
    big.pending(0, 2049);
    EXPECT_EQ(verdict_of(big.sealed(suite(), seal_key_)), NvFault::malformed);
    StorageImage wraps(suite(), 1, 1);
    wraps.add(uuid_of(1), 1, 1);
    wraps.pending(~std::uint64_t{0} - 1, 2);
    EXPECT_EQ(verdict_of(wraps.sealed(suite(), seal_key_)), NvFault::malformed);
    StorageImage huge(suite(), 1, 1);
    huge.add(uuid_of(1), 1, 1);
    put_le(huge.body(), 0, 8);
    put_le(huge.body(), 0xffffffff, 4);
    put_le(huge.body(), 0, 4);
    EXPECT_EQ(verdict_of(huge.sealed(suite(), seal_key_)), NvFault::malformed);
  }
  {  // a pending write cut short
    StorageImage cut(suite(), 1, 1);
    cut.add(uuid_of(1), 1, 1);
    cut.pending(0, 2);
    cut.body().pop_back();
    EXPECT_EQ(verdict_of(cut.sealed(suite(), seal_key_)), NvFault::malformed);
  }
  {  // a malformed counter
    ASSERT_EQ(verdict_of(good.sealed(suite(), seal_key_)), NvFault::none);
    Bytes body = to_bytes(ByteView(sealed_counter(suite(), seal_key_, 1)).first(24));
    body[12] = 1;  // reserved
    write(counter(), seal(body));
    EXPECT_EQ(reopen(), NvFault::malformed);
    body[12] = 0;
    body.push_back(0);  // a trailing byte: longer than any counter.bin, refused unread
    write(counter(), seal(body));
    EXPECT_EQ(reopen(), NvFault::bad_seal);
  }
}

TEST_P(NvStorageRefusal, FilesThatAreNotRegularFilesAreUnreadable) {
  fs::create_directories(storage());  // a directory where storage.bin should be
  EXPECT_EQ(reopen(), NvFault::unreadable);
  fs::remove(storage());
  ASSERT_EQ(::mkfifo(storage().c_str(), 0600), 0);  // would block a naive open
  EXPECT_EQ(reopen(), NvFault::unreadable);
  fs::remove(storage());
  ASSERT_EQ(::mkfifo(counter().c_str(), 0600), 0);
  EXPECT_EQ(reopen(), NvFault::unreadable);
  fs::remove(counter());
  EXPECT_EQ(reopen(), NvFault::none);
}

TEST_P(NvStorageRefusal, AFileLargerThanAnyStorageIsRefusedUnread) {
  fs::create_directory(dir_);
  write(storage(), Bytes{1});
  fs::resize_file(storage(), 200ull << 20);  // sparse: no 200 MiB is read or written
  EXPECT_EQ(reopen(), NvFault::bad_seal);
}

INSTANTIATE_TEST_SUITE_P(Suites, NvStorageRefusal, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         suite_name);

}  // namespace
}  // namespace cvmsim::psp::nv_test
