// cvmsim run's limits: --max-sim-time stops a guest the same way on every run, --timeout
// bounds the whole run on the host's clock whatever the guests do, the console is capped,
// and --trace records the same events on every run.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/run_fixture.h"
#include "common/file_io.h"

namespace cvmsim {
namespace {

using test::guest;
using test::make_identities;
using test::run_cli;

std::vector<std::string> run_args(const test::TempDir& dir, const std::string& firmware,
                                  std::vector<std::string> extra) {
  std::vector<std::string> args{"run",
                                "--chip",
                                (dir / "chip").string(),
                                "--firmware",
                                guest(firmware),
                                "--reference",
                                (dir / "ref").string(),
                                "--provider",
                                (dir / "p").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// spin asks the host for its iteration count and gets a floating bus (4 billion): only the
// simulated-time bound ends it, at the same place on every run.
TEST(RunLimits, MaxSimTimeStopsAGuestAtTheSameSimulatedTimeOnEveryRun) {
  test::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "spin"));
  std::vector<nlohmann::json> vms;
  for (int i = 0; i < 2; ++i) {
    const auto r = run_cli(run_args(dir, "spin", {"--max-sim-time", "20ms", "-o", "json"}));
    ASSERT_EQ(r.exit_code, 6) << r.out << r.err;
    vms.push_back(nlohmann::json::parse(r.out)["vms"][0]);
    EXPECT_EQ(vms.back()["fate"], "time limit");
    EXPECT_NE(vms.back()["detail"].get<std::string>().find("simulated-time limit of 20 ms"),
              std::string::npos)
        << vms.back()["detail"];
  }
  EXPECT_EQ(vms[0]["simulated_us"], vms[1]["simulated_us"]);
  EXPECT_EQ(vms[0]["vm_exits"], vms[1]["vm_exits"]);
  EXPECT_GE(vms[0]["simulated_us"].get<std::uint64_t>(), 20'000u);
  EXPECT_LT(vms[0]["simulated_us"].get<std::uint64_t>(), 20'100u);
  const auto bad = run_cli(run_args(dir, "spin", {"--max-sim-time", "soon"}));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--max-sim-time"), std::string::npos) << bad.err;
}

// io_storm exits on every instruction pair and never ends. Four of them with --timeout 2
// used to take at least 2 s each, one after another (and far longer: the deadline was only
// looked at when a time slice ended); the bound now covers the whole run.
TEST(RunLimits, TimeoutBoundsTheWholeRunOfGuestsThatExitAllTheTime) {
  test::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "io_storm"));
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_cli(
      run_args(dir, "io_storm",
               {"--vms", "4", "--timeout", "2", "--max-sim-time", "100000s", "-o", "json"}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_LT(seconds, 7.0);
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["vms"].size(), 4u);
  for (const auto& vm : doc["vms"]) EXPECT_EQ(vm["fate"], "host timeout") << vm;
  EXPECT_GT(doc["vms"][0]["vm_exits"].get<std::uint64_t>(), 1000u);
}

TEST(RunLimits, TheConsoleIsCappedAndTheRestCounted) {
  test::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "console_flood"));
  // 2 sim-us per console byte: 2.2 s of simulated time is 1.1 million bytes, a million
  // exits, which in the ASan build on a loaded machine can take longer than the default
  // host safety net (60 s of wall time). The limit under test is the simulated one, so
  // the safety net is set out of its way.
  const std::vector<std::string> limits{"--max-sim-time", "2200ms", "--timeout", "3600"};
  auto json_args = limits;
  json_args.insert(json_args.end(), {"-o", "json"});
  const auto json = run_cli(run_args(dir, "console_flood", json_args));
  ASSERT_EQ(json.exit_code, 6) << json.err;
  const auto vm = nlohmann::json::parse(json.out)["vms"][0];
  EXPECT_EQ(vm["fate"], "time limit");
  EXPECT_EQ(vm["console"].get<std::string>().size(), 1u << 20);
  EXPECT_GT(vm["console_dropped"].get<std::uint64_t>(), 40'000u);
  const auto text = run_cli(run_args(dir, "console_flood", limits));
  EXPECT_NE(text.out.find("more bytes dropped (a run keeps the first 1048576 bytes)"),
            std::string::npos);
}

TEST(RunLimits, TheSameRunWritesTheSameTrace) {
  test::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(make_identities(dir, "memwalk"));
  std::vector<std::string> traces;
  for (int i = 0; i < 2; ++i) {
    const std::string out = (dir / ("trace" + std::to_string(i) + ".json")).string();
    const auto r = run_cli(run_args(dir, "memwalk", {"--vms", "2", "--trace", out}));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    traces.push_back(read_text_file(out));
  }
  EXPECT_EQ(traces[0], traces[1]);
  const auto doc = nlohmann::json::parse(traces[0]);
  std::size_t maps = 0;
  std::size_t faults = 0;
  for (const auto& e : doc["traceEvents"]) {
    if (e["name"] == "NPT_MAP" && e["args"]["status"] == "success") ++maps;
    if (e["name"] == "nested_page_fault") ++faults;
  }
  EXPECT_GT(maps, 10u);
  EXPECT_GE(maps, faults);
}

}  // namespace
}  // namespace cvmsim
