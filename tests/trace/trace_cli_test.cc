// cvmsim trace show / digest / diff / diagram on traces written with the Recorder, and the
// documented exit codes and error lines (docs/cli.md, "trace").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "sample_trace.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "trace/digest.h"

namespace cvmsim::trace {
namespace {

using test::CommandResult;
using test::run_cli;

class TraceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    events = test::sample_events();
    write_trace(dir / "a.json", events);
    write_trace(dir / "same.json", events);
    auto changed = events;
    changed[20].args["pages"] = 8;  // one argument of one NPT_MAP in the middle
    write_trace(dir / "b.json", changed);
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }

  test::TempDir dir;
  std::vector<Event> events;
};

TEST_F(TraceCli, Show) {
  const CommandResult r = run_cli({"trace", "show", path("a.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("54 events, simulated time 0 ns .. 79.500 us"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refusals (status not success): 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("digest " + digest(events)), std::string::npos) << r.out;

  const CommandResult j = run_cli({"trace", "show", path("a.json"), "-o", "json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["events"], 54);
  EXPECT_EQ(doc["by_name"]["NPT_MAP"], 38);
  EXPECT_EQ(doc["refusals"][0]["status"], "replayed_request");
  EXPECT_EQ(doc["digest"], digest(events));
}

TEST_F(TraceCli, Digest) {
  const CommandResult r = run_cli({"trace", "digest", path("a.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, digest(events) + "  " + path("a.json") + "\n");
  const CommandResult b = run_cli({"trace", "digest", path("b.json"), "-o", "json"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(nlohmann::json::parse(b.out)["digest"], digest(events));
}

TEST_F(TraceCli, DiffIdentical) {
  const CommandResult r = run_cli({"trace", "diff", path("a.json"), path("same.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no divergence: 54 events identical (digest " + digest(events) + ")\n");
}

TEST_F(TraceCli, DiffNamesTheFirstDivergenceAndExitsWith5) {
  const CommandResult r = run_cli({"trace", "diff", path("a.json"), path("b.json")});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_NE(r.out.find("traces diverge at event 20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("args.pages"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("A: 16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("B: 8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#19 "), std::string::npos) << r.out;  // context
  EXPECT_NE(r.err.find("diverge at event 20"), std::string::npos) << r.err;

  const CommandResult j = run_cli({"trace", "diff", path("a.json"), path("b.json"), "-o", "json"});
  EXPECT_EQ(j.exit_code, 5);
  const auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["identical"], false);
  EXPECT_EQ(doc["index"], 20);
  EXPECT_EQ(doc["differences"][0]["field"], "args.pages");

  auto shorter = events;
  shorter.resize(50);
  write_trace(dir / "short.json", shorter);
  const CommandResult s = run_cli({"trace", "diff", path("a.json"), path("short.json")});
  EXPECT_EQ(s.exit_code, 5);
  EXPECT_NE(s.out.find("A has 4 more events"), std::string::npos) << s.out;
}

TEST_F(TraceCli, Diagram) {
  const CommandResult r =
      run_cli({"trace", "diagram", path("a.json"), "--out", path("a.svg"), "--max-rows", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read_text_file(dir / "a.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("a.json (54 events)"), std::string::npos);
  EXPECT_NE(svg.find("\u2026 5 more events"), std::string::npos);  // 10 rows hold 49 events
  EXPECT_EQ(test::run_command({"xmllint", "--noout", path("a.svg")}).exit_code, 0);
}

TEST_F(TraceCli, DiagramRefusesToOverwriteItsInput) {
  const std::string before = read_text_file(dir / "a.json");
  const CommandResult r = run_cli({"trace", "diagram", path("a.json"), "--out", path("a.json")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is the input trace"), std::string::npos) << r.err;
  // The same file by another name.
  const CommandResult dotted = run_cli(
      {"trace", "diagram", path("a.json"), "--out", (dir.path() / "." / "a.json").string()});
  EXPECT_EQ(dotted.exit_code, 2) << dotted.err;
  EXPECT_EQ(read_text_file(dir / "a.json"), before);
  EXPECT_EQ(run_cli({"trace", "diagram", path("a.json"), "--out", path("x.svg"), "--max-rows", "0"})
                .exit_code,
            2);
}

TEST_F(TraceCli, BadInputFailsWithTheModuleErrorAndLeavesFilesAlone) {
  write_text_file_atomic(dir / "bad.json", read_text_file(dir / "a.json").substr(0, 900));
  write_text_file_atomic(dir / "keep.svg", "previous");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"trace", "show", path("bad.json")},
        {"trace", "digest", path("bad.json")},
        {"trace", "diff", path("a.json"), path("bad.json")},
        {"trace", "diagram", path("bad.json"), "--out", path("keep.svg")}}) {
    const CommandResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << args[1];
    EXPECT_NE(r.err.find("cvmsim: error [trace/malformed]: " + path("bad.json")), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_text_file(dir / "keep.svg"), "previous");
  const CommandResult missing = run_cli({"trace", "show", path("missing.json")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cvmsim: error [trace/io]"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace cvmsim::trace
