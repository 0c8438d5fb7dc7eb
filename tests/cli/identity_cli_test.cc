// The identity commands as a user runs them, including exit codes and openssl interop.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

using test::run_cli;
using test::run_command;

class IdentityCli : public ::testing::TestWithParam<std::string> {
 protected:
  test::TempDir dir;
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

TEST_P(IdentityCli, VendorChipExportAndOpensslVerify) {
  const std::string suite = GetParam();
  auto r = run_cli({"vendor", "init", "--suite", suite, path("vendor")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"chip", "new", "--vendor", path("vendor"), path("chip"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto chip = nlohmann::json::parse(r.out);
  EXPECT_EQ(chip["suite"], suite);
  EXPECT_EQ(chip["chip_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(chip["certificates"].size(), 5u);

  r = run_cli({"chip", "export", path("chip"), "--out", path("chain.pem")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // openssl verify accepts each exported certificate against the vendor root.
  const std::string root = path("vendor") + "/root.pem";
  for (const char* cert : {"signing.pem", "endorsement.pem", "attestation.pem", "wrapping.pem"}) {
    const auto v = run_command({"openssl", "verify", "-CAfile", root, "-untrusted",
                                path("chain.pem"), path("chip") + "/" + cert});
    EXPECT_EQ(v.exit_code, 0) << cert << ": " << v.out << v.err;
  }

  // DER export is accepted back by inspect.
  r = run_cli({"chip", "export", path("chip"), "--out", path("chain.der"), "--format", "der"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"inspect", path("chain.der"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto described = nlohmann::json::parse(r.out);
  EXPECT_EQ(described["artifact"], "chip certificate chain");
  EXPECT_EQ(described["chip_id"], chip["chip_id"]);
}

INSTANTIATE_TEST_SUITE_P(Suites, IdentityCli, ::testing::Values("sm", "nist"));

TEST(IdentityCliErrors, ExitCodesForUsageExistingDirectoryAndBadInput) {
  test::TempDir dir;
  EXPECT_EQ(run_cli({}).exit_code, 2);
  EXPECT_EQ(run_cli({"vendor", "init", "--suite", "rsa", (dir / "v").string()}).exit_code, 2);
  EXPECT_EQ(run_cli({"no-such-command"}).exit_code, 2);
  ASSERT_EQ(run_cli({"provider", "init", (dir / "p").string()}).exit_code, 0);
  auto r = run_cli({"provider", "init", (dir / "p").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pki/already_exists"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"provider", "init", "--force", (dir / "p").string()}).exit_code, 0);

  write_text_file_atomic(dir / "junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
  r = run_cli({"inspect", (dir / "junk.pem").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("junk.pem"), std::string::npos) << r.err;
  // --help works everywhere.
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"chip", "--help"},
                                        {"chip", "export", "--help"},
                                        {"sign-reference", "--help"}}) {
    r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args.front();
    EXPECT_NE(r.out.find("Usage"), std::string::npos);
  }
}

}  // namespace
}  // namespace cvmsim
