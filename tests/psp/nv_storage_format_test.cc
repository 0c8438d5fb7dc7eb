// The PSP's non-volatile storage as docs/formats.md lays it out: the seal key, records
// round-tripping through the files byte for byte, the documented openssl commands, the
// record limit and records the format cannot hold.
#include "psp/nv_storage_fixture.h"

namespace cvmsim::psp::nv_test {
namespace {

class NvStorageFormat : public NvStorageTest {};

TEST_P(NvStorageFormat, SealKeyIsTheDocumentedHmacOfTheWrappingKeyPem) {
  ASSERT_EQ(seal_key_.size(), 32u);
  EXPECT_EQ(seal_key_, reference_hmac(suite(), as_bytes(chip_key_.private_pem()),
                                      as_bytes("cvmsim-psp-nv-seal-v1")));
  EXPECT_EQ(derive_nv_seal_key(chip_key_), seal_key_);
  EXPECT_NE(derive_nv_seal_key(crypto::suite(suite()).generate_key()), seal_key_);
  EXPECT_ANY_THROW((void)derive_nv_seal_key(chip_key_.public_only()));
}

TEST_P(NvStorageFormat, NoFilesIsAnEmptyStorageAndLoadCreatesNothing) {
  NvStorage nv = open();
  EXPECT_EQ(nv.find(uuid_of(1)), nullptr);  // not loaded yet
  EXPECT_EQ(nv.load(), NvFault::none);
  EXPECT_EQ(nv.sequence(), 0u);
  EXPECT_EQ(nv.find(uuid_of(1)), nullptr);
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_P(NvStorageFormat, RecordsRoundTripThroughTheFilesIncludingAPendingWrite) {
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

TEST_P(NvStorageFormat, FilesHaveTheDocumentedLayout) {
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

TEST_P(NvStorageFormat, TheDocumentedOpensslCommandsVerifyTheSeal) {
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

TEST_P(NvStorageFormat, TheRecordLimitIsFull) {
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

TEST_P(NvStorageFormat, RecordsThatDoNotFitTheFormatAreRefused) {
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

TEST_P(NvStorageFormat, StoreLoadsFirstWhenNotLoaded) {
  NvStorage nv = open();
  EXPECT_EQ(nv.store(record(1, 1)), NvFault::none);
  EXPECT_EQ(nv.sequence(), 1u);
  EXPECT_NE(nv.find(uuid_of(1)), nullptr);
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

INSTANTIATE_TEST_SUITE_P(Suites, NvStorageFormat, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         suite_name);

}  // namespace
}  // namespace cvmsim::psp::nv_test
