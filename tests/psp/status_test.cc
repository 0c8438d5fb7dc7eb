// The PSP's statuses are a closed list, and each one has a name wherever statuses are
// named: to_string, describe_refusal's text and the table in docs/cli.md ("PSP statuses").
#include "psp/status.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "common/file_io.h"
#include "psp/commands.h"
#include "psp/status_detail.h"

namespace cvmsim::psp {
namespace {

TEST(Statuses, EveryStatusIsNamedInTheCodeAndInTheDocs) {
  const Bytes doc = read_file(std::string(CVMSIM_SOURCE_DIR) + "/docs/cli.md");
  const std::string cli_md(doc.begin(), doc.end());
  for (std::uint32_t n = 0; n < kStatusCount; ++n) {
    Status status{};
    ASSERT_TRUE(status_from_number(n, status));
    const std::string name(to_string(status));
    EXPECT_NE(name, "unknown") << n;
    const std::string refusal = describe_refusal("NPT_MAP", status, 0x1000);
    EXPECT_EQ(refusal.rfind(fmt::format("{} (status {})", name, n), 0), 0u) << refusal;
    EXPECT_NE(cli_md.find(fmt::format("| {} | `{}` |", n, name)), std::string::npos)
        << name << " is missing from docs/cli.md, \"PSP statuses\"";
  }
  Status beyond{};
  EXPECT_FALSE(status_from_number(kStatusCount, beyond));
}

TEST(Statuses, TlbNotTrackedNamesTheFrameAndWhatReleasesIt) {
  const std::string text = describe_refusal("NPT_MAP", Status::tlb_not_tracked, 0x1800000);
  EXPECT_NE(text.find("tlb_not_tracked (status 20)"), std::string::npos) << text;
  EXPECT_NE(text.find("0x1800000"), std::string::npos) << text;
  EXPECT_NE(text.find("TLB_TRACK"), std::string::npos) << text;
}

TEST(Commands, TlbTrackHasAMailboxName) {
  EXPECT_EQ(command_name(Command{TlbTrack{1}}), "TLB_TRACK");
}

}  // namespace
}  // namespace cvmsim::psp
