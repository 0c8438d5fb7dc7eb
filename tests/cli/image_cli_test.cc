// The protected-image session from the command line, as the README shows it: identities,
// mkdisk, pack, sign-reference, run --image with attestation, verify.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

using test::run_cli;

class ImageSession : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string suite = GetParam();
    ASSERT_EQ(run_cli({"vendor", "init", "--suite", suite, p("vendor")}).exit_code, 0);
    ASSERT_EQ(run_cli({"chip", "new", "--vendor", p("vendor"), p("chip")}).exit_code, 0);
    ASSERT_EQ(run_cli({"chip", "export", p("chip"), "--out", p("chain.pem")}).exit_code, 0);
    ASSERT_EQ(run_cli({"provider", "init", "--suite", suite, p("provider")}).exit_code, 0);
    ASSERT_EQ(run_cli({"guest", "export", "image_boot", "--out", p("fw.bin")}).exit_code, 0);
    write_text_file_atomic(p("motd.txt"), "greetings from the command line\n");
    auto r = run_cli({"mkdisk", "--builtin-kernel", "disk_demo", "--file", "motd=" + p("motd.txt"),
                      "--out", p("disk.raw")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_cli({"measure", "--suite", suite, p("fw.bin"), "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    digest = nlohmann::json::parse(r.out)["launch_digest"].get<std::string>();
    r = run_cli({"pack", "--in", p("disk.raw"), "--out", p("disk.img"), "--provider", p("provider"),
                 "--chip-chain", p("chain.pem"), "--vendor-root", p("vendor/root.pem"), "--suite",
                 suite, "--allow-measurement", digest});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = run_cli({"sign-reference", "--provider", p("provider"), "--firmware", p("fw.bin"), "--out",
                 p("fw.ref")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string p(const std::string& name) const { return (dir / name).string(); }
  test::CommandResult boot(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"run",         "--chip",      p("chip"),    "--firmware",
                                  p("fw.bin"),   "--reference", p("fw.ref"),  "--provider",
                                  p("provider"), "--image",     p("disk.img")};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  }
  test::TempDir dir;
  std::string digest;
};

TEST_P(ImageSession, BootsPersistsAttestsAndVerifies) {
  auto r = boot();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("boot number 1 of this image"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("greetings from the command line"), std::string::npos) << r.out;

  const std::string nonce(128, 'a');
  r = boot({"--attest-nonce", nonce, "--report-out", p("report.bin"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_NE(doc["vms"][0]["console"].get<std::string>().find("boot number 2"), std::string::npos);
  EXPECT_GE(doc["vms"][0]["interrupts_injected"].get<int>(), 4);

  r = run_cli({"verify", p("report.bin"), "--chain", p("chain.pem"), "--root", p("vendor/root.pem"),
               "--nonce", nonce, "--expect-measurement", digest, "--expect-provider",
               p("provider/provider.pem")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // An old nonce is a failed expectation.
  r = run_cli({"verify", p("report.bin"), "--chain", p("chain.pem"), "--root", p("vendor/root.pem"),
               "--nonce", std::string(128, 'b')});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
}

TEST_P(ImageSession, ARefusedCertificateFailsTheRun) {
  // Firmware that is not in the certificate's allowed list: launch succeeds (the reference
  // matches), but the PSP does not release the image key.
  auto r =
      run_cli({"pack", "--in", p("disk.raw"), "--out", p("other.img"), "--provider", p("provider"),
               "--chip-chain", p("chain.pem"), "--vendor-root", p("vendor/root.pem"), "--suite",
               GetParam(), "--allow-measurement", std::string(GetParam() == "sm" ? 64 : 96, '0')});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"run", "--chip", p("chip"), "--firmware", p("fw.bin"), "--reference", p("fw.ref"),
               "--provider", p("provider"), "--image", p("other.img")});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.out.find("IMAGE_CERT failed: PSP status 15"), std::string::npos) << r.out;
}

TEST(MkdiskCli, RefusesAKernelThatIsNotAPayloadAndLeavesNoOutput) {
  test::TempDir dir;
  write_text_file_atomic(dir / "junk", "not a payload at all");
  const auto r =
      run_cli({"mkdisk", "--kernel", (dir / "junk").string(), "--out", (dir / "out.raw").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("CVMSPAYL"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.raw"));
  EXPECT_EQ(
      run_cli({"mkdisk", "--builtin-kernel", "nosuch", "--out", (dir / "x").string()}).exit_code,
      2);
}

INSTANTIATE_TEST_SUITE_P(Suites, ImageSession, ::testing::Values("sm", "nist"));

}  // namespace
}  // namespace cvmsim
