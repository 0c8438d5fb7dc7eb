// cvmsim run: boots the guest images from the command line, with exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/run_fixture.h"
#include "common/file_io.h"

namespace cvmsim {
namespace {

using test::run_cli;

using test::guest;
using test::make_identities;

TEST(RunCli, BootsTwoVmsAndReportsJson) {
  test::TempDir dir;
  const std::string chip = (dir / "chip").string();
  const std::string provider = (dir / "p").string();
  ASSERT_EQ(run_cli({"vendor", "init", "--suite", "nist", (dir / "v").string()}).exit_code, 0);
  ASSERT_EQ(run_cli({"chip", "new", "--vendor", (dir / "v").string(), chip}).exit_code, 0);
  ASSERT_EQ(run_cli({"provider", "init", "--suite", "nist", provider}).exit_code, 0);
  ASSERT_EQ(run_cli({"sign-reference", "--provider", provider, "--firmware", guest("hello"),
                     "--policy", "guard=isolate", "--out", (dir / "ref").string()})
                .exit_code,
            0);
  const auto r =
      run_cli({"run", "--chip", chip, "--firmware", guest("hello"), "--reference",
               (dir / "ref").string(), "--provider", provider, "--vms", "2", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["vms"].size(), 2u);
  for (const auto& vm : doc["vms"]) {
    EXPECT_EQ(vm["fate"], "exited");
    EXPECT_EQ(vm["console"], "hello from a confidential VM\n");
    EXPECT_NE(vm["policy"].get<std::string>().find("guard=isolate"), std::string::npos);
    EXPECT_LE(vm["psp_private_memory_bytes"].get<int>(), 4096);
  }
  EXPECT_NE(doc["vms"][0]["asid"], doc["vms"][1]["asid"]);
}

TEST(RunCli, CountsInstructionsAndMapsTheFaultAroundRangeAsked) {
  test::TempDir dir;
  const std::string chip = (dir / "chip").string();
  const std::string provider = (dir / "p").string();
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "memwalk"));
  const auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"run",
                                  "--chip",
                                  chip,
                                  "--firmware",
                                  guest("memwalk"),
                                  "--reference",
                                  (dir / "ref").string(),
                                  "--provider",
                                  provider,
                                  "-o",
                                  "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const auto counted = run({"--count-instructions", "--fault-around", "64"});
  ASSERT_EQ(counted.exit_code, 0) << counted.out << counted.err;
  const auto small = run({"--fault-around", "1"});
  ASSERT_EQ(small.exit_code, 0) << small.out << small.err;
  const auto a = nlohmann::json::parse(counted.out)["vms"][0];
  const auto b = nlohmann::json::parse(small.out)["vms"][0];
  // memwalk runs a few hundred thousand instructions (its loops alone touch 8 words in
  // each of 1024 pages, twice); uncounted runs report none.
  EXPECT_GT(a["instructions"].get<std::uint64_t>(), 50'000u);
  EXPECT_TRUE(b["instructions"].is_null());
  // The same touches cost fewer faults with a larger range, and map more pages.
  EXPECT_LT(a["nested_page_faults"].get<int>(), b["nested_page_faults"].get<int>());
  EXPECT_GT(a["pages_mapped"].get<int>(), b["pages_mapped"].get<int>());
  const auto bad = run({"--fault-around", "48"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--fault-around"), std::string::npos) << bad.err;
}

TEST(RunCli, EachEndOfTheFaultAroundRangeBootsInEveryGuardedMode) {
  // 512 pages is a whole 2 MiB block: its range around the first faults covers the
  // firmware's pages at 1 MiB, which are mapped already.
  test::TempDir dir;
  const std::string chip = (dir / "chip").string();
  const std::string provider = (dir / "p").string();
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "memwalk"));
  for (const char* guard : {"detect", "isolate"}) {
    ASSERT_EQ(run_cli({"sign-reference", "--provider", provider, "--firmware", guest("memwalk"),
                       "--policy", std::string("guard=") + guard, "--out", (dir / "ref").string()})
                  .exit_code,
              0);
    std::vector<int> faults;
    for (const char* n : {"1", "512"}) {
      SCOPED_TRACE(std::string(guard) + " --fault-around " + n);
      const auto r = run_cli({"run", "--chip", chip, "--firmware", guest("memwalk"), "--reference",
                              (dir / "ref").string(), "--provider", provider, "--fault-around", n,
                              "-o", "json"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
      const auto vm = nlohmann::json::parse(r.out)["vms"][0];
      EXPECT_EQ(vm["fate"], "exited");
      faults.push_back(vm["nested_page_faults"].get<int>());
    }
    EXPECT_LT(faults[1], faults[0]);
  }
}

TEST(RunCli, WrongFirmwareIsRefusedWithTheVmExitCode) {
  test::TempDir dir;
  const std::string chip = (dir / "chip").string();
  const std::string provider = (dir / "p").string();
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "hello"));
  const auto r = run_cli({"run", "--chip", chip, "--firmware", guest("memwalk"), "--reference",
                          (dir / "ref").string(), "--provider", provider});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.err.find("measurement_mismatch"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"run", "--chip", chip, "--firmware", guest("hello"), "--reference",
                     (dir / "ref").string(), "--provider", provider, "--mem", "12Q"})
                .exit_code,
            2);
}

TEST(RunCli, AnAliasedPlatformRefusesToStartUnlessTheCheckIsSkipped) {
  test::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "hello"));
  const auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"run",
                                  "--chip",
                                  (dir / "chip").string(),
                                  "--firmware",
                                  guest("hello"),
                                  "--reference",
                                  (dir / "ref").string(),
                                  "--provider",
                                  (dir / "p").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const std::string upper_half = "0x8000000000:0:0x8000000000";  // 1 TiB host memory
  const auto refused = run({"--dram-alias", upper_half});
  EXPECT_EQ(refused.exit_code, 6) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("dram_aliased (status 21), detail 0x8000000000"), std::string::npos)
      << refused.err;
  const auto unchecked = run({"--dram-alias", upper_half, "--skip-dram-alias-check"});
  EXPECT_EQ(unchecked.exit_code, 0) << unchecked.out << unchecked.err;
  for (const char* bad : {"1:2", "0x1000:0:0x1001", "0x1000:0:0x2000", "0x20000000000:0:0x1000"}) {
    const auto r = run({"--dram-alias", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << r.err;
    EXPECT_NE(r.err.find("--dram-alias"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace cvmsim
