// Hardening from the command line: inputs that are not regular files, missing
// inputs, malformed trust anchors, --force on directories that are not identities, and
// file-system errors while inspecting: every one ends with the documented exit code and a
// module error, never a hang, an internal error or a deleted file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

namespace fs = std::filesystem;
using test::run_cli;

std::string guest(const std::string& name) {
  return std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin";
}

std::string joined(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& a : args) text += (text.empty() ? "" : " ") + a;
  return text;
}

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_cli({"vendor", "init", p("vendor")}).exit_code, 0);
    ASSERT_EQ(run_cli({"chip", "new", "--vendor", p("vendor"), p("chip")}).exit_code, 0);
    ASSERT_EQ(run_cli({"chip", "export", p("chip"), "--out", p("chain.pem")}).exit_code, 0);
    ASSERT_EQ(run_cli({"provider", "init", p("provider")}).exit_code, 0);
    ASSERT_EQ(run_cli({"sign-reference", "--provider", p("provider"), "--firmware", guest("hello"),
                       "--out", p("ref")})
                  .exit_code,
              0);
  }
  [[nodiscard]] std::string p(const std::string& name) const { return (dir / name).string(); }
  test::TempDir dir;
};

TEST_F(Hardening, AFifoAsInputIsRefusedAtOnce) {
  // Opening a FIFO for reading waits for a writer; every reader must refuse it first.
  ASSERT_EQ(::mkfifo(p("fifo").c_str(), 0600), 0);
  const std::string fifo = p("fifo");
  const std::vector<std::vector<std::string>> commands{
      {"inspect", fifo},
      {"measure", fifo},
      {"verify", fifo, "--chain", p("chain.pem"), "--root", p("vendor/root.pem")},
      {"verify", p("ref"), "--chain", fifo, "--root", p("vendor/root.pem")},
      {"pack", "--in", fifo, "--out", p("out.img"), "--provider", p("provider"), "--chip-chain",
       p("chain.pem"), "--vendor-root", p("vendor/root.pem")},
      {"pack", "--in", p("ref"), "--out", p("out.img"), "--provider", p("provider"), "--chip-chain",
       fifo, "--vendor-root", p("vendor/root.pem")},
      {"mkdisk", "--builtin-kernel", "disk_demo", "--file", "f=" + fifo, "--out", p("out.raw")},
      {"sign-reference", "--provider", p("provider"), "--firmware", fifo, "--out", p("r2")},
      {"run", "--chip", p("chip"), "--firmware", fifo, "--reference", p("ref"), "--provider",
       p("provider")},
      {"run", "--chip", p("chip"), "--firmware", guest("hello"), "--reference", p("ref"),
       "--provider", p("provider"), "--image", fifo},
  };
  for (const auto& args : commands) {
    SCOPED_TRACE(joined(args));
    const auto r = test::run_cli_within(args, std::chrono::seconds(20));
    ASSERT_FALSE(r.timed_out) << "blocked on the FIFO";
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("FIFO"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(fifo), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(p("out.img")));
  EXPECT_FALSE(fs::exists(p("out.raw")));
}

TEST_F(Hardening, AMissingInputIsAUsageErrorInEveryCommand) {
  const std::string missing = p("no-such-file");
  const std::vector<std::vector<std::string>> commands{
      {"inspect", missing},
      {"measure", missing},
      {"pack", "--in", missing, "--out", p("out.img"), "--provider", p("provider"), "--chip-chain",
       p("chain.pem"), "--vendor-root", p("vendor/root.pem")},
      {"pack", "--in", p("ref"), "--out", p("out.img"), "--provider", p("provider"), "--chip-chain",
       missing, "--vendor-root", p("vendor/root.pem")},
      {"pack", "--in", p("ref"), "--out", p("out.img"), "--provider", p("provider"), "--chip-chain",
       p("chain.pem"), "--vendor-root", missing},
      {"mkdisk", "--builtin-kernel", "disk_demo", "--file", "f=" + missing, "--out", p("o.raw")},
      {"mkdisk", "--kernel", missing, "--out", p("o.raw")},
      {"verify", missing, "--chain", p("chain.pem"), "--root", p("vendor/root.pem")},
  };
  for (const auto& args : commands) {
    SCOPED_TRACE(joined(args));
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("no-such-file"), std::string::npos) << r.err;
  }
}

TEST_F(Hardening, AMalformedVendorRootIsBadInputInPackAndVerify) {
  write_text_file_atomic(p("root.pem"),
                         "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  write_text_file_atomic(p("raw"), std::string(8192, 'x'));
  auto r = run_cli({"pack", "--in", p("raw"), "--out", p("out.img"), "--provider", p("provider"),
                    "--chip-chain", p("chain.pem"), "--vendor-root", p("root.pem")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("[pki/bad_certificate]"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(p("out.img")));
  r = run_cli({"verify", p("ref"), "--chain", p("chain.pem"), "--root", p("root.pem")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("[pki/bad_certificate]"), std::string::npos) << r.err;
  // A chain that does not lead to a good root stays a chain failure.
  ASSERT_EQ(run_cli({"vendor", "init", p("other")}).exit_code, 0);
  r = run_cli({"pack", "--in", p("raw"), "--out", p("out.img"), "--provider", p("provider"),
               "--chip-chain", p("chain.pem"), "--vendor-root", p("other/root.pem")});
  EXPECT_EQ(r.exit_code, 4) << r.err;
}

TEST_F(Hardening, ABrokenCertificateWhereACertificateOrKeyIsExpectedSaysCertificate) {
  write_text_file_atomic(p("broken.pem"),
                         "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  auto r = run_cli({"run", "--chip", p("chip"), "--firmware", guest("hello"), "--reference",
                    p("ref"), "--provider", p("broken.pem")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("[pki/bad_certificate]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("neither an X.509 certificate nor a key"), std::string::npos) << r.err;
  write_file_atomic(p("broken.der"), Bytes{0x30, 0x03, 0x02, 0x01, 0x01});
  r = run_cli({"inspect", p("broken.der")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("[pki/bad_certificate]"), std::string::npos) << r.err;
}

TEST_F(Hardening, ForceReplacesOnlyAnIdentityOfTheSameKind) {
  fs::create_directory(p("notes"));
  write_text_file_atomic(p("notes/keep.txt"), "precious");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"vendor", "init", "--force", p("notes")},
           {"provider", "init", "--force", p("notes")},
           {"chip", "new", "--force", "--vendor", p("vendor"), p("notes")},
           {"provider", "init", "--force", p("vendor")},  // a vendor is not a provider
           {"vendor", "init", "--force", p("notes/keep.txt")}}) {
    SCOPED_TRACE(joined(args));
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("[pki/already_exists]"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_text_file(p("notes/keep.txt")), "precious");
  EXPECT_EQ(run_cli({"inspect", p("vendor")}).exit_code, 0);
  // A trailing slash and `.` name the directory itself.
  const std::string root_before = read_text_file(p("vendor/root.pem"));
  auto r = run_cli({"vendor", "init", "--force", p("vendor") + "/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_text_file(p("vendor/root.pem")), root_before);
  r = run_cli({"provider", "init", "--force", p("provider") + "/."});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"provider", "init", "--force", p("notes") + "/."});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  EXPECT_EQ(read_text_file(p("notes/keep.txt")), "precious");
}

TEST_F(Hardening, FileSystemErrorsInAnIdentityDirectoryAreIoErrorsNamingThePath) {
  // A descriptor that is a symbolic link to itself: looking it up fails with ELOOP (this
  // also works as root, for whom permission bits do not stop a look-up).
  fs::create_directory(p("loop"));
  fs::create_symlink("chip.json", p("loop/chip.json"));
  auto r = run_cli({"inspect", p("loop")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("[common/io]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(p("loop")), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  // A directory whose name (4090 bytes) is within PATH_MAX (4096 with its NUL) while a
  // descriptor in it is beyond (ENAMETOOLONG).
  fs::path deep = dir.path();
  while (deep.string().size() + 200 < 4080) deep /= std::string(190, 'd');
  deep /= std::string(4089 - deep.string().size(), 'e');
  ASSERT_EQ(deep.string().size(), 4090u);
  fs::create_directories(deep);
  r = run_cli({"inspect", deep.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("[common/io]"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cvmsim
