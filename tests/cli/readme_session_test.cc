// The README's session, run as a new user would: from an empty directory, with the binary
// named by B, every line as written. It must succeed, verify with the nonce and the
// expectations, and write nothing outside its own directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/file_io.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

namespace fs = std::filesystem;

// The shell block under "## A session" in README.md, its first line (B=...) replaced by
// the binary under test.
std::string readme_session() {
  const std::string readme = read_text_file(std::string(CVMSIM_SOURCE_DIR) + "/README.md");
  const auto section = readme.find("## A session");
  if (section == std::string::npos) return {};
  const auto begin = readme.find("```\n", section) + 4;
  const auto end = readme.find("```\n", begin);
  std::string block = readme.substr(begin, end - begin);
  if (block.rfind("B=", 0) != 0) return {};
  return "B='" + std::string(CVMSIM_CLI_PATH) + "'" + block.substr(block.find('\n'));
}

TEST(ReadmeSession, RunsFromAnEmptyDirectory) {
  const std::string session = readme_session();
  ASSERT_FALSE(session.empty()) << "README.md has no session block starting with B=";
  // Past the first line (B=, the one path a reader adapts), nothing points into the tree.
  const std::string after_b = session.substr(session.find('\n'));
  EXPECT_EQ(after_b.find("build/"), std::string::npos) << "paths into the build tree:\n" << after_b;
  EXPECT_EQ(after_b.find("README"), std::string::npos) << after_b;
  test::TempDir dir;
  const std::string script = "set -e -o pipefail\nexport PATH=\"$PATH:/usr/sbin:/sbin\"\ncd '" +
                             dir.path().string() + "'\n" + session;
  const auto r = test::run_command({"bash", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << script << "\n--- stdout\n" << r.out << "\n--- stderr\n" << r.err;
  // The verify step checked the nonce, the measurement and the provider, and passed.
  for (const char* check : {"PASS  nonce", "PASS  measurement", "PASS  provider",
                            "PASS  certificate", "result: PASS"}) {
    EXPECT_NE(r.out.find(check), std::string::npos) << check << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find("UNCHECKED"), std::string::npos) << r.out;
  // Everything it wrote is under the directory it made.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "session") << entry.path();
  }
  EXPECT_TRUE(fs::exists(dir / "session" / "report.bin"));
}

}  // namespace
}  // namespace cvmsim
