// measure / sign-reference / inspect / demo from the command line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "common/hex.h"
#include "measure/launch_plan.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

using test::run_cli;

Bytes firmware_bytes() {
  Bytes fw(2 * measure::kPageSize + 100);
  for (std::size_t i = 0; i < fw.size(); ++i) {
    fw[i] = static_cast<std::uint8_t>(i * 13 + i / measure::kPageSize);
  }
  return fw;
}

TEST(MeasureCli, DigestMatchesTheLibraryAndChangesWhenPagesSwap) {
  test::TempDir dir;
  const Bytes fw = firmware_bytes();
  write_file_atomic(dir / "fw.bin", fw);
  for (const char* suite : {"sm", "nist"}) {
    auto r = run_cli({"measure", "--suite", suite, (dir / "fw.bin").string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    const auto id = std::string(suite) == "sm" ? crypto::SuiteId::sm : crypto::SuiteId::nist;
    EXPECT_EQ(doc["launch_digest"],
              to_hex(measure::measure_plan(
                  measure::plan_firmware_launch(fw, measure::GuestLayout{}, "fw"), id)));
    EXPECT_EQ(doc["pages_measured"], 4);  // 3 firmware pages + the vCPU state
    // Stable: a second run prints the same digest.
    EXPECT_EQ(nlohmann::json::parse(run_cli({"measure", "--suite", suite,
                                             (dir / "fw.bin").string(), "-o", "json"})
                                        .out)["launch_digest"],
              doc["launch_digest"]);
  }
  Bytes swapped = fw;
  std::swap_ranges(swapped.begin(), swapped.begin() + measure::kPageSize,
                   swapped.begin() + measure::kPageSize);
  write_file_atomic(dir / "swapped.bin", swapped);
  EXPECT_NE(run_cli({"measure", (dir / "fw.bin").string()}).out.substr(0, 64),
            run_cli({"measure", (dir / "swapped.bin").string()}).out.substr(0, 64));
}

TEST(MeasureCli, SignReferenceAndInspectIt) {
  test::TempDir dir;
  write_file_atomic(dir / "fw.bin", firmware_bytes());
  ASSERT_EQ(run_cli({"provider", "init", "--suite", "nist", (dir / "p").string()}).exit_code, 0);
  auto r = run_cli({"sign-reference", "--provider", (dir / "p").string(), "--firmware",
                    (dir / "fw.bin").string(), "--policy", "guard=isolate", "--out",
                    (dir / "ref.bin").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"inspect", (dir / "ref.bin").string(), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ref = nlohmann::json::parse(r.out);
  EXPECT_EQ(ref["artifact"], "reference measurement");
  EXPECT_EQ(ref["suite"], "nist");
  EXPECT_NE(ref["policy"].get<std::string>().find("guard=isolate"), std::string::npos);
  const auto provider =
      nlohmann::json::parse(run_cli({"inspect", (dir / "p").string(), "-o", "json"}).out);
  EXPECT_EQ(ref["provider_key_id"], provider["provider_key_id"]);
  const auto measured = nlohmann::json::parse(
      run_cli({"measure", "--suite", "nist", (dir / "fw.bin").string(), "--json"}).out);
  EXPECT_EQ(ref["launch_digest"], measured["launch_digest"]);
  // A bad policy word is an error naming the word, and writes nothing.
  r = run_cli({"sign-reference", "--provider", (dir / "p").string(), "--firmware",
               (dir / "fw.bin").string(), "--policy", "guard=sometimes", "--out",
               (dir / "ref2.bin").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("guard=sometimes"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "ref2.bin"));
}

TEST(MeasureCli, EmptyFirmwareIsRefusedWithItsName) {
  test::TempDir dir;
  write_file_atomic(dir / "empty.bin", Bytes{});
  const auto r = run_cli({"measure", (dir / "empty.bin").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("empty.bin"), std::string::npos) << r.err;
}

TEST(DemoCli, PlaysTheStoryAndExitsZero) {
  const auto r = run_cli({"demo"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("refused: PSP refused LAUNCH_VERIFY: measurement_mismatch"),
            std::string::npos)
      << r.out;
  // Both suites play the whole story: encrypted boot, persisted data, verified report.
  for (const char* suite : {"== suite sm", "== suite nist"}) {
    const auto at = r.out.find(suite);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string part = r.out.substr(at, r.out.find("ms for this suite", at) - at);
    EXPECT_NE(part.find("disk_demo: boot number 1 of this image"), std::string::npos) << part;
    EXPECT_NE(part.find("\"boot number 2\""), std::string::npos) << part;
    EXPECT_NE(part.find("11 of 11 checks PASS"), std::string::npos) << part;
  }
}

}  // namespace
}  // namespace cvmsim
