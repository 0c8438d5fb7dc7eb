// Traces of real runs, end to end through the CLI: the demo's trace reads back, draws as a
// sequence diagram that an independent renderer (rsvg-convert) paints at its declared size,
// two runs of one attack scenario do not diverge, and two demo runs diverge first at the
// tenant's fresh nonce.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "png_check.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "trace/reader.h"

namespace cvmsim::trace {
namespace {

using test::run_cli;
using test::run_command;

class TraceFlow : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir / name).string(); }
  test::TempDir dir;
};

TEST_F(TraceFlow, TheDemosTraceDrawsTheProtectedImageBoot) {
  const auto demo = run_cli({"demo", "--trace", path("demo.json")});
  ASSERT_EQ(demo.exit_code, 0) << demo.err;
  const std::vector<Event> events = read_trace(path("demo.json"));
  // The protected-image boot, hop by hop, in both suites.
  const auto count = [&](std::string_view name) {
    return std::count_if(events.begin(), events.end(),
                         [&](const Event& e) { return e.name == name; });
  };
  EXPECT_EQ(count("pack"), 2);
  EXPECT_EQ(count("IMAGE_CERT"), 4);  // two boots per suite
  EXPECT_EQ(count("keyslot_program"), 4);
  EXPECT_GT(count("dma"), 8);
  EXPECT_EQ(count("dma"), count("dma_write_frames") + count("dma_read_frames"));
  EXPECT_EQ(count("completion_interrupt"), count("interrupt_inject"));
  EXPECT_EQ(count("ATTEST"), 2);
  EXPECT_EQ(count("verify"), 2);
  for (std::size_t i = 1; i < events.size(); ++i) ASSERT_LE(events[i - 1].sim_ns, events[i].sim_ns);

  const auto drawn = run_cli(
      {"trace", "diagram", path("demo.json"), "--out", path("demo.svg"), "--max-rows", "60"});
  ASSERT_EQ(drawn.exit_code, 0) << drawn.err;
  const std::string svg = read_text_file(path("demo.svg"));
  for (const char* text : {">PSP<", ">disk controller<", "LAUNCH_START", "NPT_MAP", "SECURE_CALL",
                           "keyslot_program", "DISK_IO", "completion_interrupt"}) {
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  }
  const auto rendered = run_command(
      {"rsvg-convert", "--format", "png", "--output", path("demo.png"), path("demo.svg")});
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  const Bytes png = read_file(path("demo.png"));
  const test::PngImage image = test::decode_png({png.begin(), png.end()});
  const auto declared = [&](const std::string& attribute) {
    const auto at = svg.find(attribute + "=\"");
    return std::stoul(svg.substr(at + attribute.size() + 2));
  };
  EXPECT_EQ(image.width, declared("width"));
  EXPECT_EQ(image.height, declared("height"));
  // Arrows and labels: a good share of the picture is drawn, not background.
  std::size_t dark = 0;
  for (std::size_t i = 0; i < std::size_t{image.width} * image.height; ++i) {
    if (image.rgba[i * 4] < 128 && image.rgba[i * 4 + 1] < 128 && image.rgba[i * 4 + 2] < 128)
      ++dark;
  }
  EXPECT_GT(dark, std::size_t{image.width} * image.height / 200);
}

TEST_F(TraceFlow, TwoRunsOfAScenarioDoNotDiverge) {
  for (const char* name : {"a.json", "b.json"}) {
    const auto r = run_cli({"attack", "run", "npt-silent-edit", "--trace", path(name)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto diff = run_cli({"trace", "diff", path("a.json"), path("b.json")});
  EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;
  EXPECT_NE(diff.out.find("no divergence"), std::string::npos) << diff.out;
  EXPECT_NE(read_text_file(path("a.json")).find("\"periodic_check\""), std::string::npos);
}

TEST_F(TraceFlow, DemosWithDifferentNoncesDivergeFirstAtTheNonce) {
  for (const char* name : {"a.json", "b.json"}) {
    ASSERT_EQ(run_cli({"demo", "--trace", path(name)}).exit_code, 0);
  }
  const auto diff = run_cli({"trace", "diff", path("a.json"), path("b.json"), "-o", "json"});
  EXPECT_EQ(diff.exit_code, 5) << diff.out << diff.err;
  const auto doc = nlohmann::json::parse(diff.out);
  EXPECT_EQ(doc["identical"], false);
  EXPECT_EQ(doc["a"]["name"], "attest_nonce") << doc.dump();
  EXPECT_EQ(doc["a"]["actor"], "tenant");
  ASSERT_EQ(doc["differences"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["differences"][0]["field"], "args.nonce");
}

}  // namespace
}  // namespace cvmsim::trace
