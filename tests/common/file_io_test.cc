#include "common/file_io.h"

#include <gtest/gtest.h>

#include "common/common_error.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

TEST(FileIo, AtomicWriteReplacesAndLeavesNoTemporaries) {
  test::TempDir dir;
  const auto path = dir / "out.bin";
  write_file_atomic(path, Bytes{1, 2, 3});
  write_file_atomic(path, Bytes{4, 5});
  EXPECT_EQ(read_file(path), (Bytes{4, 5}));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileIo, SecretFilesGetTheRequestedMode) {
  test::TempDir dir;
  const auto path = dir / "key.pem";
  write_text_file_atomic(path, "secret", 0600);
  const auto perms = std::filesystem::status(path).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(FileIo, FailedWriteLeavesTheOldFile) {
  test::TempDir dir;
  const auto path = dir / "keep.txt";
  write_text_file_atomic(path, "old");
  // Writing into a directory that does not exist fails before anything is replaced.
  EXPECT_THROW(write_text_file_atomic(dir / "missing" / "keep.txt", "new"), CommonError);
  EXPECT_EQ(read_text_file(path), "old");
}

TEST(FileIo, ReadErrorsNameThePathAndLimit) {
  test::TempDir dir;
  try {
    (void)read_file(dir / "nope");
    FAIL();
  } catch (const CommonError& e) {
    EXPECT_EQ(e.code(), CommonErrc::io);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
  write_file_atomic(dir / "big", Bytes(100));
  try {
    (void)read_file(dir / "big", 99);
    FAIL();
  } catch (const CommonError& e) {
    EXPECT_EQ(e.code(), CommonErrc::too_large);
  }
  EXPECT_THROW((void)read_file(dir.path()), CommonError);
}

TEST(FileIo, SyncDirectoryTakesADirectoryAndNamesWhatIsNot) {
  test::TempDir dir;
  EXPECT_NO_THROW(sync_directory(dir.path()));
  write_file_atomic(dir / "file", Bytes{1});
  for (const auto& not_a_directory : {dir / "file", dir / "missing"}) {
    try {
      sync_directory(not_a_directory);
      FAIL() << not_a_directory;
    } catch (const CommonError& e) {
      EXPECT_EQ(e.code(), CommonErrc::io);
      EXPECT_NE(std::string(e.what()).find(not_a_directory.string()), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace cvmsim
