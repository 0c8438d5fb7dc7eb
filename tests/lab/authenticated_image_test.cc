// Authenticated images (pack --integrity) at the PSP: the boot's root check against the
// PSP's non-volatile storage, its version counting the writes, and the host's ways to roll
// the disk or the storage back, each performed and refused by name.
#include <gtest/gtest.h>

#include <fstream>

#include "common/file_io.h"
#include "crypto/sector_tags.h"
#include "psp/chip_fuses.h"
#include "psp/nv_storage.h"
#include "psp/status_detail.h"
#include "support/secure_call_bench.h"
#include "support/temp_dir.h"

namespace cvmsim::lab {
namespace {

namespace fs = std::filesystem;

class AuthenticatedImage : public ::testing::TestWithParam<crypto::SuiteId> {
 protected:
  AuthenticatedImage() {
    ImageSpec spec;
    spec.volume.kernel = guest("disk_demo");
    spec.integrity = true;
    packed = world.make_image(spec, image);
  }
  // The PSP's record for the image, read as the PSP reads it.
  std::optional<psp::DiskRecord> record() const {
    const psp::ChipFuses fuses = psp::load_chip_fuses(world.chip_dir());
    psp::NvStorage nv(fuses.nv_dir, world.suite(), psp::derive_nv_seal_key(fuses.wrapping_key));
    if (nv.load() != psp::NvFault::none) return std::nullopt;
    const psp::DiskRecord* found = nv.find(packed.uuid);
    return found != nullptr ? std::optional(*found) : std::nullopt;
  }
  // The root of the tags the image file holds now.
  Bytes file_root() const {
    const Bytes bytes = read_file(image, 1ull << 30);
    const auto tags = ByteView(bytes).subspan(packed.integrity->tag_offset,
                                              packed.data_length / 4096 * crypto::kSectorTagSize);
    return crypto::tag_tree_root(world.suite(), tags);
  }
  fs::path storage() const { return world.chip_dir() / "psp-nv" / "storage.bin"; }
  static psp::Result rolled_back(psp::DiskRootDetail why) {
    return psp::Result::failure(psp::Status::disk_rolled_back, static_cast<std::uint64_t>(why));
  }

  test::TempDir dir;
  World world{dir.path(), GetParam()};
  fs::path image = dir.path() / "disk.img";
  image::PackResult packed;
};

bool same(const psp::Result& a, const psp::Result& b) {
  return a.status == b.status && a.detail == b.detail;
}

TEST_P(AuthenticatedImage, WritesMoveTheRootAndCountVersionsAcrossBoots) {
  ASSERT_TRUE(packed.integrity);
  EXPECT_EQ(file_root(), Bytes(packed.integrity->root.begin(), packed.integrity->root.end()));
  {
    SecureCallBench boot(world, image);
    ASSERT_TRUE(boot.image_cert().ok());
    EXPECT_FALSE(record()) << "no record before the first write";
    ASSERT_TRUE(boot.disk_io(1, true).ok());
    ASSERT_TRUE(boot.disk_io(2, true).ok());
    ASSERT_TRUE(boot.disk_io(1, false).ok());
  }
  const auto after = record();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->version, 2u);
  EXPECT_FALSE(after->pending);
  EXPECT_EQ(after->root, file_root());
  SecureCallBench next(world, image);
  EXPECT_TRUE(next.image_cert().ok());
}

TEST_P(AuthenticatedImage, TheImageAsPackedIsRefusedAfterAWrite) {
  const Bytes pristine = read_file(image, 1ull << 30);
  {
    SecureCallBench boot(world, image);
    ASSERT_TRUE(boot.image_cert().ok());
    ASSERT_TRUE(boot.disk_io(3, true).ok());
  }
  write_file_atomic(image, pristine);
  SecureCallBench again(world, image);
  EXPECT_TRUE(same(again.image_cert().result, rolled_back(psp::DiskRootDetail::root_mismatch)));
}

TEST_P(AuthenticatedImage, AnOlderOrMissingStorageIsRefused) {
  Bytes older;
  {
    SecureCallBench boot(world, image);
    ASSERT_TRUE(boot.image_cert().ok());
    ASSERT_TRUE(boot.disk_io(3, true).ok());
    older = read_file(storage());
    ASSERT_TRUE(boot.disk_io(4, true).ok());
  }
  const Bytes current = read_file(storage());
  // The host puts back the storage of one write ago (with the image of then, or not).
  write_file_atomic(storage(), older);
  {
    SecureCallBench boot(world, image);
    EXPECT_TRUE(same(boot.image_cert().result, rolled_back(psp::DiskRootDetail::storage_refused)));
  }
  fs::remove(storage());
  {
    SecureCallBench boot(world, image);
    EXPECT_TRUE(same(boot.image_cert().result, rolled_back(psp::DiskRootDetail::storage_refused)));
  }
  // An edited byte breaks the seal.
  Bytes edited = current;
  edited[20] ^= 1;
  write_file_atomic(storage(), edited);
  {
    SecureCallBench boot(world, image);
    EXPECT_TRUE(same(boot.image_cert().result, rolled_back(psp::DiskRootDetail::storage_refused)));
  }
  write_file_atomic(storage(), current);
  SecureCallBench boot(world, image);
  EXPECT_TRUE(boot.image_cert().ok());
}

TEST_P(AuthenticatedImage, AReadOfATamperedSectorNamesItAndAWriteKeepsWorking) {
  SecureCallBench boot(world, image);
  ASSERT_TRUE(boot.image_cert().ok());
  // The host edits the file in place under the running VM (the controller reads it per
  // request).
  {
    std::fstream file(image, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(packed.data_offset + 5 * 4096 + 9);
    char byte = 0;
    file.seekg(at);
    file.get(byte);
    file.seekp(at);
    file.put(static_cast<char>(byte ^ 0x01));
  }
  const psp::Response read = boot.disk_io(5, false);
  EXPECT_EQ(read.result.status, psp::Status::tag_mismatch);
  EXPECT_EQ(read.result.detail, 5u);
  EXPECT_EQ(boot.completion().status, static_cast<std::uint32_t>(psp::Status::tag_mismatch));
  // Rewriting the sector makes it whole again.
  ASSERT_TRUE(boot.disk_io(5, true).ok());
  EXPECT_TRUE(boot.disk_io(5, false).ok());
}

INSTANTIATE_TEST_SUITE_P(Suites, AuthenticatedImage,
                         ::testing::Values(crypto::SuiteId::sm, crypto::SuiteId::nist));

}  // namespace
}  // namespace cvmsim::lab
