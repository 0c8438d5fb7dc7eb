// The PSP's non-volatile storage against a host that owns the files: edits, forgeries,
// files of another chip, old copies put back, deletions, crashes between the two writes,
// garbage, and writes that fail. The layout checks decode the files with the offsets of
// docs/formats.md ("PSP non-volatile storage") and an HMAC of their own.
#include "psp/nv_storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <random>
#include <string>

#include "common/file_io.h"
#include "crypto/suite.h"
#include "support/documented_snippet.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim::psp {
namespace {

namespace fs = std::filesystem;
using crypto::SuiteId;
using Uuid = std::array<std::uint8_t, 16>;

// HMAC-SM3 or HMAC-SHA-256 with OpenSSL's one-shot call: not the code under test.
Bytes reference_hmac(SuiteId suite, ByteView key, ByteView data) {
  Bytes out(32);
  std::size_t length = 0;
  const std::uint8_t* result =
      EVP_Q_mac(nullptr, "HMAC", nullptr, suite == SuiteId::sm ? "SM3" : "SHA256", nullptr,
                key.data(), key.size(), data.data(), data.size(), out.data(), out.size(), &length);
  EXPECT_NE(result, nullptr);
  EXPECT_EQ(length, 32u);
  return out;
}

std::uint64_t le(ByteView bytes, std::size_t offset, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    v |= std::uint64_t{bytes[offset + i]} << (8 * i);
  }
  return v;
}

void put_le(Bytes& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Bytes filled(std::size_t size, std::uint8_t seed) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return out;
}

Uuid uuid_of(std::uint8_t n) {
  Uuid id{};
  id.fill(0x5a);
  id[0] = n;
  id[15] = static_cast<std::uint8_t>(n ^ 0xff);
  return id;
}

DiskRecord record(std::uint8_t n, std::uint64_t version, std::uint32_t pending_sectors = 0) {
  DiskRecord r;
  r.image_uuid = uuid_of(n);
  r.root = filled(32, n);
  r.version = version;
  if (pending_sectors > 0) {
    r.pending = PendingDiskWrite{.first_sector = 1000u + n,
                                 .old_tags = filled(16 * pending_sectors, 1),
                                 .new_tags = filled(16 * pending_sectors, 2),
                                 .new_root = filled(32, 3)};
  }
  return r;
}

// Builds a storage.bin the way docs/formats.md describes it, sealed with `key`: for
// contents the PSP never writes (limits, order, flags) and for the record limit.
class StorageImage {
 public:
  StorageImage(SuiteId suite, std::uint64_t sequence, std::uint32_t count) {
    body_ = as_bytes_vec("CVMSNVS1");
    put_le(body_, 1, 2);
    body_.push_back(static_cast<std::uint8_t>(suite));
    body_.push_back(0);
    put_le(body_, count, 4);
    put_le(body_, sequence, 8);
  }
  void add(const Uuid& id, std::uint64_t version, std::uint8_t flags = 0) {
    append(body_, id);
    append(body_, filled(32, id[0]));
    put_le(body_, version, 8);
    body_.push_back(flags);
    body_.insert(body_.end(), 7, 0);
  }
  void pending(std::uint64_t first, std::uint32_t count) {
    put_le(body_, first, 8);
    put_le(body_, count, 4);
    put_le(body_, 0, 4);
    append(body_, filled(32ull * count + 32, 9));  // 16-byte old and new tags, root
  }
  Bytes& body() { return body_; }
  [[nodiscard]] Bytes sealed(SuiteId suite, ByteView key) const {
    Bytes out = body_;
    append(out, reference_hmac(suite, key, body_));
    return out;
  }

 private:
  static Bytes as_bytes_vec(std::string_view s) { return to_bytes(as_bytes(s)); }
  Bytes body_;
};

Bytes sealed_counter(SuiteId suite, ByteView key, std::uint64_t counter) {
  Bytes body = to_bytes(as_bytes("CVMSNVC1"));
  put_le(body, 1, 2);
  body.push_back(static_cast<std::uint8_t>(suite));
  body.insert(body.end(), 5, 0);
  put_le(body, counter, 8);
  append(body, reference_hmac(suite, key, body));
  return body;
}

class NvStorageTest : public ::testing::TestWithParam<SuiteId> {
 protected:
  NvStorageTest()
      : chip_key_(crypto::suite(GetParam()).generate_key()),
        seal_key_(derive_nv_seal_key(chip_key_)),
        dir_(tmp_ / "chip" / "psp-nv") {
    fs::create_directory(tmp_ / "chip");
  }

  [[nodiscard]] SuiteId suite() const { return GetParam(); }
  [[nodiscard]] NvStorage open() const { return NvStorage(dir_, suite(), seal_key_); }
  // A fresh NvStorage over the files, loaded.
  [[nodiscard]] NvFault reopen() const {
    NvStorage nv = open();
    return nv.load();
  }
  [[nodiscard]] fs::path storage() const { return dir_ / "storage.bin"; }
  [[nodiscard]] fs::path counter() const { return dir_ / "counter.bin"; }
  [[nodiscard]] Bytes read(const fs::path& p) const { return read_file(p); }
  // The host's edits: written in place, without the fsync of the PSP's writes, and without
  // truncating to zero first (which makes ext4 flush the file on close: slow in a loop).
  static void write(const fs::path& p, ByteView bytes) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << p;
    const auto written = ::pwrite(fd, bytes.data(), bytes.size(), 0);
    const int truncated = ::ftruncate(fd, static_cast<off_t>(bytes.size()));
    ::close(fd);
    ASSERT_EQ(written, static_cast<ssize_t>(bytes.size())) << p;
    ASSERT_EQ(truncated, 0) << p;
  }

  crypto::Key chip_key_;
  Bytes seal_key_;
  test::TempDir tmp_;
  fs::path dir_;
};

TEST_P(NvStorageTest, SealKeyIsTheDocumentedHmacOfTheWrappingKeyPem) {
  ASSERT_EQ(seal_key_.size(), 32u);
  EXPECT_EQ(seal_key_, reference_hmac(suite(), as_bytes(chip_key_.private_pem()),
                                      as_bytes("cvmsim-psp-nv-seal-v1")));
  EXPECT_EQ(derive_nv_seal_key(chip_key_), seal_key_);
  EXPECT_NE(derive_nv_seal_key(crypto::suite(suite()).generate_key()), seal_key_);
  EXPECT_ANY_THROW((void)derive_nv_seal_key(chip_key_.public_only()));
}

TEST_P(NvStorageTest, NoFilesIsAnEmptyStorageAndLoadCreatesNothing) {
  NvStorage nv = open();
  EXPECT_EQ(nv.find(uuid_of(1)), nullptr);  // not loaded yet
  EXPECT_EQ(nv.load(), NvFault::none);
  EXPECT_EQ(nv.sequence(), 0u);
  EXPECT_EQ(nv.find(uuid_of(1)), nullptr);
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_P(NvStorageTest, RecordsRoundTripThroughTheFilesIncludingAPendingWrite) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  const DiskRecord a = record(9, 4);
  const DiskRecord b = record(3, 1, 5);     // with a pending write of 5 sectors
  const DiskRecord c = record(6, 7, 2048);  // the largest pending write
  ASSERT_EQ(nv.store(a), NvFault::none);
  ASSERT_EQ(nv.store(b), NvFault::none);
  ASSERT_EQ(nv.store(c), NvFault::none);
  EXPECT_EQ(nv.sequence(), 3u);
  ASSERT_NE(nv.find(b.image_uuid), nullptr);
  EXPECT_EQ(*nv.find(a.image_uuid), a);
  EXPECT_EQ(*nv.find(b.image_uuid), b);
  EXPECT_EQ(*nv.find(c.image_uuid), c);
  EXPECT_EQ(nv.find(uuid_of(4)), nullptr);

  // Replacing a record (the pending write settled) keeps one record per image.
  DiskRecord b2 = b;
  b2.pending.reset();
  b2.root = filled(32, 0xee);
  b2.version = 2;
  ASSERT_EQ(nv.store(b2), NvFault::none);
  EXPECT_EQ(*nv.find(b.image_uuid), b2);

  NvStorage again = open();
  ASSERT_EQ(again.load(), NvFault::none);
  EXPECT_EQ(again.sequence(), 4u);
  EXPECT_EQ(*again.find(a.image_uuid), a);
  EXPECT_EQ(*again.find(b.image_uuid), b2);
  EXPECT_EQ(*again.find(c.image_uuid), c);
  EXPECT_EQ(again.find(uuid_of(4)), nullptr);
  EXPECT_EQ(again.load(), NvFault::none);  // later calls return the first verdict

  // Three records, one of them (c) with a pending write of 2048 sectors: header, 3 record
  // heads, c's pending write, MAC.
  EXPECT_EQ(read(storage()).size(), 24u + 3 * 64 + (16 + 2048 * 32 + 32) + 32);
}

TEST_P(NvStorageTest, FilesHaveTheDocumentedLayout) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  const DiskRecord later = record(0xb0, 0x1122334455667788);
  const DiskRecord earlier = record(0x10, 5, 3);
  ASSERT_EQ(nv.store(later), NvFault::none);
  ASSERT_EQ(nv.store(earlier), NvFault::none);

  const Bytes s = read(storage());
  ASSERT_EQ(s.size(), 24u + 64 + (64 + 16 + 3 * 32 + 32) + 32);
  EXPECT_EQ(std::string(s.begin(), s.begin() + 8), "CVMSNVS1");
  EXPECT_EQ(le(s, 8, 2), 1u);
  EXPECT_EQ(s[10], static_cast<std::uint8_t>(suite()));
  EXPECT_EQ(s[11], 0);
  EXPECT_EQ(le(s, 12, 4), 2u);
  EXPECT_EQ(le(s, 16, 8), 2u);
  // Ascending UUIDs: `earlier` first, with its pending write.
  EXPECT_TRUE(std::equal(earlier.image_uuid.begin(), earlier.image_uuid.end(), s.begin() + 24));
  EXPECT_EQ(Bytes(s.begin() + 40, s.begin() + 72), earlier.root);
  EXPECT_EQ(le(s, 72, 8), 5u);
  EXPECT_EQ(s[80], 1);
  EXPECT_TRUE(std::all_of(s.begin() + 81, s.begin() + 88, [](auto b) { return b == 0; }));
  EXPECT_EQ(le(s, 88, 8), earlier.pending->first_sector);
  EXPECT_EQ(le(s, 96, 4), 3u);
  EXPECT_EQ(le(s, 100, 4), 0u);
  EXPECT_EQ(Bytes(s.begin() + 104, s.begin() + 152), earlier.pending->old_tags);
  EXPECT_EQ(Bytes(s.begin() + 152, s.begin() + 200), earlier.pending->new_tags);
  EXPECT_EQ(Bytes(s.begin() + 200, s.begin() + 232), earlier.pending->new_root);
  EXPECT_TRUE(std::equal(later.image_uuid.begin(), later.image_uuid.end(), s.begin() + 232));
  EXPECT_EQ(Bytes(s.begin() + 248, s.begin() + 280), later.root);
  EXPECT_EQ(le(s, 280, 8), later.version);
  EXPECT_EQ(s[288], 0);
  EXPECT_EQ(Bytes(s.begin() + 296, s.end()),
            reference_hmac(suite(), seal_key_, ByteView(s).first(296)));

  const Bytes c = read(counter());
  ASSERT_EQ(c.size(), 56u);
  EXPECT_EQ(std::string(c.begin(), c.begin() + 8), "CVMSNVC1");
  EXPECT_EQ(le(c, 8, 2), 1u);
  EXPECT_EQ(c[10], static_cast<std::uint8_t>(suite()));
  EXPECT_EQ(le(c, 11, 5), 0u);
  EXPECT_EQ(le(c, 16, 8), 2u);
  EXPECT_EQ(Bytes(c.begin() + 24, c.end()),
            reference_hmac(suite(), seal_key_, ByteView(c).first(24)));

  EXPECT_EQ(fs::status(storage()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(counter()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir_).permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST_P(NvStorageTest, TheDocumentedOpensslCommandsVerifyTheSeal) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1, 4)), NvFault::none);
  fs::create_directory(tmp_ / "chip" / "fuses");
  write_text_file_atomic(tmp_ / "chip" / "fuses" / "wrapping.key", chip_key_.private_pem(), 0600);
  const std::string snippet = test::documented_snippet(
      fs::path(CVMSIM_SOURCE_DIR) / "docs" / "formats.md", "nv-seal-check");
  ASSERT_FALSE(snippet.empty()) << "docs/formats.md lost the nv-seal-check snippet";
  auto run = [&] {
    return test::run_command(
        {"bash", "-c", "set -e\ncd '" + tmp_.path().string() + "'\n" + snippet});
  };
  const auto good = run();
  EXPECT_EQ(good.exit_code, 0) << snippet << good.out << good.err;
  EXPECT_NE(good.out.find("storage.bin: seal OK"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("counter.bin: seal OK"), std::string::npos) << good.out;

  Bytes edited = read(storage());
  edited[30] ^= 1;
  write(storage(), edited);
  const auto bad = run();
  EXPECT_NE(bad.exit_code, 0) << bad.out << bad.err;
}

TEST_P(NvStorageTest, AnEditedByteAnywhereIsABadSeal) {
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

TEST_P(NvStorageTest, FilesOfAnotherChipAreABadSeal) {
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

TEST_P(NvStorageTest, AnOlderStorageCopiedBackIsRolledBack) {
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

TEST_P(NvStorageTest, ADeletedStorageIsRolledBack) {
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

TEST_P(NvStorageTest, AStorageOneAheadOfTheCounterIsAcceptedAndTheCounterRepaired) {
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

TEST_P(NvStorageTest, AFirstStoreInterruptedBeforeTheCounterIsAccepted) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  ASSERT_EQ(nv.store(record(1, 1)), NvFault::none);
  fs::remove(counter());  // the crash came before the first counter.bin
  NvStorage after = open();
  ASSERT_EQ(after.load(), NvFault::none);
  EXPECT_EQ(after.sequence(), 1u);
  EXPECT_TRUE(fs::exists(counter()));
}

TEST_P(NvStorageTest, AStorageMoreThanOneAheadOfTheCounterIsRefused) {
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

TEST_P(NvStorageTest, TruncatedFilesAreFaultsNotExceptions) {
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

TEST_P(NvStorageTest, RandomGarbageIsAFaultNotAnException) {
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
TEST_P(NvStorageTest, SealedButMalformedContentsAreRefused) {
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

TEST_P(NvStorageTest, FilesThatAreNotRegularFilesAreUnreadable) {
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

TEST_P(NvStorageTest, AFileLargerThanAnyStorageIsRefusedUnread) {
  fs::create_directory(dir_);
  write(storage(), Bytes{1});
  fs::resize_file(storage(), 200ull << 20);  // sparse: no 200 MiB is read or written
  EXPECT_EQ(reopen(), NvFault::bad_seal);
}

TEST_P(NvStorageTest, TheRecordLimitIsFull) {
  fs::create_directory(dir_);
  StorageImage image(suite(), 7, static_cast<std::uint32_t>(kMaxNvRecords));
  for (std::size_t i = 0; i < kMaxNvRecords; ++i) {
    Uuid id{};
    id[14] = static_cast<std::uint8_t>(i >> 8);
    id[15] = static_cast<std::uint8_t>(i);
    image.add(id, i);
  }
  write(storage(), image.sealed(suite(), seal_key_));
  write(counter(), sealed_counter(suite(), seal_key_, 7));
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  const Bytes before = read(storage());
  EXPECT_EQ(nv.store(record(0xff, 1)), NvFault::full);
  EXPECT_EQ(nv.find(uuid_of(0xff)), nullptr);
  EXPECT_EQ(read(storage()), before);
  // Replacing one of them still fits.
  DiskRecord replacement = record(0, 5);
  replacement.image_uuid = Uuid{};
  EXPECT_EQ(nv.store(replacement), NvFault::none);
  EXPECT_EQ(nv.sequence(), 8u);
  EXPECT_EQ(*nv.find(Uuid{}), replacement);

  // One record over the limit, sealed: malformed.
  StorageImage over(suite(), 9, static_cast<std::uint32_t>(kMaxNvRecords + 1));
  write(storage(), over.sealed(suite(), seal_key_));
  write(counter(), sealed_counter(suite(), seal_key_, 9));
  EXPECT_EQ(reopen(), NvFault::malformed);
}

TEST_P(NvStorageTest, RecordsThatDoNotFitTheFormatAreRefused) {
  NvStorage nv = open();
  ASSERT_EQ(nv.load(), NvFault::none);
  DiskRecord short_root = record(1, 1);
  short_root.root.pop_back();
  EXPECT_EQ(nv.store(short_root), NvFault::malformed);
  DiskRecord too_many = record(1, 1, 2049);
  EXPECT_EQ(nv.store(too_many), NvFault::malformed);
  DiskRecord uneven = record(1, 1, 2);
  uneven.pending->new_tags.pop_back();
  EXPECT_EQ(nv.store(uneven), NvFault::malformed);
  DiskRecord wraps = record(1, 1, 2);
  wraps.pending->first_sector = ~std::uint64_t{0};
  EXPECT_EQ(nv.store(wraps), NvFault::malformed);
  EXPECT_EQ(nv.sequence(), 0u);
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_P(NvStorageTest, StoreLoadsFirstWhenNotLoaded) {
  NvStorage nv = open();
  EXPECT_EQ(nv.store(record(1, 1)), NvFault::none);
  EXPECT_EQ(nv.sequence(), 1u);
  EXPECT_NE(nv.find(uuid_of(1)), nullptr);
}

TEST_P(NvStorageTest, AWriteIntoAPathThatIsAFileFailsAndChangesNothing) {
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
TEST_P(NvStorageTest, AWriteThatFailsHalfwayKeepsTheOldState) {
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
TEST_P(NvStorageTest, AReadOnlyDirectoryIsAFailedWrite) {
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
TEST_P(NvStorageTest, ACounterThatCannotBeWrittenIsCaughtUpBeforeTheNextStore) {
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

TEST(NvFaultNames, AreShortSnakeCase) {
  EXPECT_EQ(to_string(NvFault::none), "none");
  EXPECT_EQ(to_string(NvFault::unreadable), "unreadable");
  EXPECT_EQ(to_string(NvFault::bad_seal), "bad_seal");
  EXPECT_EQ(to_string(NvFault::malformed), "malformed");
  EXPECT_EQ(to_string(NvFault::rolled_back), "rolled_back");
  EXPECT_EQ(to_string(NvFault::write_failed), "write_failed");
  EXPECT_EQ(to_string(NvFault::full), "full");
}

INSTANTIATE_TEST_SUITE_P(Suites, NvStorageTest, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::psp
