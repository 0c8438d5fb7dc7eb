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

// Certificate times are RFC 3339 UTC, the same instants openssl prints.
TEST_P(IdentityCli, CertificateTimesAreRfc3339) {
  ASSERT_EQ(run_cli({"vendor", "init", "--suite", GetParam(), path("vendor")}).exit_code, 0);
  const auto r = run_cli({"inspect", path("vendor/root.pem"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto cert = nlohmann::json::parse(r.out)["certificates"][0];
  for (const char* field : {"not_before", "not_after"}) {
    const std::string ours = cert[field];
    const auto openssl =
        run_command({"openssl", "x509", "-in", path("vendor/root.pem"), "-noout", "-dateopt",
                     "iso_8601", std::string(field) == "not_before" ? "-startdate" : "-enddate"});
    ASSERT_EQ(openssl.exit_code, 0) << openssl.err;
    // "notAfter=2036-12-01 12:00:00Z" -> "2036-12-01T12:00:00Z"
    std::string theirs = openssl.out.substr(openssl.out.find('=') + 1);
    theirs = theirs.substr(0, theirs.find('\n'));
    theirs[10] = 'T';
    EXPECT_EQ(ours, theirs) << field;
    EXPECT_EQ(ours.size(), 20u) << ours;
  }
  EXPECT_LT(cert["not_before"].get<std::string>(), cert["not_after"].get<std::string>());
}

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
