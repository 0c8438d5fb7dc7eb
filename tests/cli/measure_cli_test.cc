// measure / sign-reference / inspect / demo from the command line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
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
    EXPECT_EQ(nlohmann::json::parse(
                  run_cli({"measure", "--suite", suite, (dir / "fw.bin").string(), "-o", "json"})
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

// --explain lists every page record; recomputing the documented chain from the listed
// records (docs/formats.md "Launch digest") gives each digest_after and the launch digest.
TEST(MeasureCli, ExplainListsEveryPageRecordOfTheChain) {
  test::TempDir dir;
  const Bytes fw = firmware_bytes();
  write_file_atomic(dir / "fw.bin", fw);
  for (const auto suite : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    const std::string name(crypto::to_string(suite));
    auto r =
        run_cli({"measure", "--suite", name, "--explain", (dir / "fw.bin").string(), "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    const auto& pages = doc["pages"];
    ASSERT_EQ(pages.size(), 4u);
    EXPECT_EQ(doc["load_gpa"], 0x100000);
    const crypto::Suite& s = crypto::suite(suite);
    Bytes chained(s.digest_size(), 0);
    for (std::size_t i = 0; i < pages.size(); ++i) {
      const auto& page = pages[i];
      EXPECT_EQ(page["index"], i);
      const bool vcpu = i == 3;
      EXPECT_EQ(page["type"], vcpu ? "vcpu_state" : "firmware");
      EXPECT_EQ(page["gpa"], vcpu ? 0u : 0x100000u + i * measure::kPageSize);
      if (!vcpu) {
        Bytes contents(measure::kPageSize, 0);
        const std::size_t from = i * measure::kPageSize;
        std::copy(fw.begin() + static_cast<std::ptrdiff_t>(from),
                  fw.begin() +
                      static_cast<std::ptrdiff_t>(std::min(fw.size(), from + measure::kPageSize)),
                  contents.begin());
        EXPECT_EQ(page["contents_digest"], to_hex(s.hash(contents)));
      }
      // D_i = H(D_{i-1} || H(contents) || u16 record_size || u8 type || u8 0 || u32 0 || u64 gpa)
      Bytes record = chained;
      append(record, from_hex(page["contents_digest"].get<std::string>()));
      const std::size_t size = 2 * s.digest_size() + 16;
      record.push_back(static_cast<std::uint8_t>(size));
      record.push_back(static_cast<std::uint8_t>(size >> 8));
      record.push_back(page["type_code"].get<std::uint8_t>());
      record.insert(record.end(), 5, 0);
      const std::uint64_t gpa = page["gpa"];
      for (int b = 0; b < 8; ++b) record.push_back(static_cast<std::uint8_t>(gpa >> (8 * b)));
      chained = s.hash(record);
      EXPECT_EQ(page["digest_after"], to_hex(chained)) << i;
    }
    EXPECT_EQ(to_hex(chained), doc["launch_digest"]);
    // The text form: one line per record, then the usual digest line.
    r = run_cli({"measure", "--suite", name, "--explain", (dir / "fw.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("0x0000000000101000  firmware"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vcpu_state"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(to_hex(chained) + "  " + (dir / "fw.bin").string()), std::string::npos);
  }
}

TEST(MeasureCli, SignReferenceAndGuestListSpeakJson) {
  test::TempDir dir;
  ASSERT_EQ(run_cli({"provider", "init", (dir / "provider").string()}).exit_code, 0);
  write_file_atomic(dir / "fw.bin", firmware_bytes());
  auto r = run_cli({"sign-reference", "--provider", (dir / "provider").string(), "--firmware",
                    (dir / "fw.bin").string(), "--out", (dir / "fw.ref").string(), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["policy"], 0x502);
  EXPECT_EQ(doc["policy_decoded"], "guard=detect,integrity=merkle,memory-encryption=on,debug=off");
  EXPECT_EQ(
      doc["launch_digest"],
      nlohmann::json::parse(
          run_cli({"measure", (dir / "fw.bin").string(), "-o", "json"}).out)["launch_digest"]);
  r = run_cli({"guest", "list", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  bool found = false;
  for (const auto& g : doc["guests"]) {
    EXPECT_TRUE(g["size"].is_number_unsigned());
    if (g["name"] == "image_boot") {
      found = true;
      ASSERT_EQ(
          run_cli({"guest", "export", "image_boot", "--out", (dir / "ib.bin").string()}).exit_code,
          0);
      EXPECT_EQ(
          g["launch_digest_sm"],
          nlohmann::json::parse(
              run_cli({"measure", (dir / "ib.bin").string(), "-o", "json"}).out)["launch_digest"]);
    }
  }
  EXPECT_TRUE(found) << r.out;
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
  // Each step names who acts and the one command that does it alone.
  for (const char* line : {"[provider] alone: cvmsim pack --in disk.raw",
                           "[tenant] alone: cvmsim verify report.bin --chain chain.pem --root "
                           "vendor/root.pem --nonce NONCE --expect-measurement DIGEST",
                           "[host, PSP] alone: cvmsim run --chip chip"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  // The guarded NPT: both edits go through unguarded, and the guard catches each where the
  // design says: the flip at the next NPT_MAP, the silent edit at the periodic check.
  const auto guard_part = r.out.substr(r.out.find("== the guarded nested page tables"));
  EXPECT_NE(guard_part.find("guard off    succeeded"), std::string::npos) << guard_part;
  EXPECT_NE(guard_part.find("guard detect detected by PSP pre-update check of NPT_MAP"),
            std::string::npos)
      << guard_part;
  EXPECT_NE(guard_part.find("guard detect detected by PSP periodic NPT check"), std::string::npos)
      << guard_part;
  EXPECT_NE(guard_part.find("alone: cvmsim attack run npt-silent-edit --guard detect"),
            std::string::npos)
      << guard_part;
  // Both suites play the whole story: encrypted boot, persisted data, verified report.
  for (const char* suite : {"== suite sm", "== suite nist"}) {
    const auto at = r.out.find(suite);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string part = r.out.substr(at, r.out.find("ms for this suite", at) - at);
    EXPECT_NE(part.find("disk_demo: boot number 1 of this image"), std::string::npos) << part;
    EXPECT_NE(part.find("\"boot number 2\""), std::string::npos) << part;
    // The disk checks are opt-in, and the demo's image has no sector tags: they SKIP.
    EXPECT_NE(part.find("12 of 14 checks PASS"), std::string::npos) << part;
  }
}

}  // namespace
}  // namespace cvmsim
