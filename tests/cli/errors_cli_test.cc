// Errors a person can act on: every failure in the documented form `cvmsim: error
// [module/code]: message`, a JSON error object on stdout under `-o json`, option names said
// once, and refused launches that show what differs (docs/cli.md, "Errors").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/file_io.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

using test::run_cli;

class Errors : public ::testing::Test {
 protected:
  std::string p(const std::string& name) const { return (dir / name).string(); }
  // The firmware's launch digest as `cvmsim measure` prints it.
  std::string digest_of(const std::string& firmware) {
    const auto r = run_cli({"measure", firmware, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["launch_digest"].get<std::string>();
  }
  test::TempDir dir;
};

// The error object `-o json` prints on stdout.
nlohmann::json json_error(const test::CommandResult& r) {
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_TRUE(doc.contains("error")) << r.out;
  EXPECT_EQ(doc["error"]["exit_code"], r.exit_code) << r.out;
  EXPECT_EQ(doc["error"]["id"].get<std::string>(), doc["error"]["module"].get<std::string>() + "/" +
                                                       doc["error"]["code"].get<std::string>());
  // The same message is on stderr in the documented form.
  EXPECT_NE(r.err.find("cvmsim: error [" + doc["error"]["id"].get<std::string>() +
                       "]: " + doc["error"]["message"].get<std::string>()),
            std::string::npos)
      << r.err;
  return doc["error"];
}

TEST_F(Errors, UsageErrorsUseTheDocumentedFormAndNameTheOptionOnce) {
  write_text_file_atomic(p("a"), "x");
  auto r = run_cli({"verify", p("a"), "--chain", p("a"), "--root", p("a"), "--nonce", "xyz0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("cvmsim: error [cli/usage]: --nonce: 'x' at position 0 is not a hex digit"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("--nonce: --nonce"), std::string::npos) << r.err;
  r = run_cli({"verify", p("a")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("cvmsim: error [cli/usage]: --chain: is required", 0), 0u) << r.err;
  r = run_cli({"no-such-command"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("cvmsim: error [cli/usage]: ", 0), 0u) << r.err;
  // --help is not an error.
  r = run_cli({"verify", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST_F(Errors, JsonOutputGetsAJsonErrorObject) {
  write_file_atomic(dir / "empty.bin", Bytes{});
  auto r = run_cli({"measure", p("empty.bin"), "-o", "json"});
  EXPECT_EQ(r.exit_code, 1);
  const auto error = json_error(r);
  EXPECT_EQ(error["module"], "measure");
  EXPECT_NE(error["message"].get<std::string>().find("empty.bin"), std::string::npos);
  // A usage error after -o json was read.
  r = run_cli({"verify", "-o", "json", p("empty.bin")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(json_error(r)["id"], "cli/usage");
  // Without -o json, stdout stays empty.
  r = run_cli({"measure", p("empty.bin")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(Errors, ARefusedLaunchShowsBothDigestsAndRunJsonSaysSo) {
  ASSERT_EQ(run_cli({"vendor", "init", p("vendor")}).exit_code, 0);
  ASSERT_EQ(run_cli({"chip", "new", "--vendor", p("vendor"), p("chip")}).exit_code, 0);
  ASSERT_EQ(run_cli({"provider", "init", p("provider")}).exit_code, 0);
  const std::string hello = std::string(CVMSIM_GUEST_DIR) + "/hello.bin";
  const std::string memwalk = std::string(CVMSIM_GUEST_DIR) + "/memwalk.bin";
  ASSERT_EQ(run_cli({"sign-reference", "--provider", p("provider"), "--firmware", hello, "--out",
                     p("hello.ref")})
                .exit_code,
            0);
  // The reference is for hello; the host launches memwalk with it.
  auto r = run_cli({"run", "--chip", p("chip"), "--firmware", memwalk, "--reference",
                    p("hello.ref"), "--provider", p("provider"), "-o", "json"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  const auto error = json_error(r);
  EXPECT_EQ(error["id"], "vmm/launch_refused");
  const std::string message = error["message"];
  EXPECT_NE(message.find("PSP refused LAUNCH_VERIFY: measurement_mismatch (status 10)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("expected launch digest " + digest_of(hello) +
                         " (the reference), actual " + digest_of(memwalk)),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace cvmsim
