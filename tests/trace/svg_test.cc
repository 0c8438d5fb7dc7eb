// The sequence diagram: collapsing and capping of rows, well-formed XML with escaped text
// (checked by xmllint), and a picture that an independent renderer (rsvg-convert) draws at
// the declared size, not blank, with red exactly in the rows of refused events.
#include <gtest/gtest.h>

#include <regex>

#include "common/file_io.h"
#include "png_check.h"
#include "sample_trace.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "trace/sequence_rows.h"
#include "trace/sequence_svg.h"
#include "trace/trace_error.h"

namespace cvmsim::trace {
namespace {

using test::run_command;

TEST(TraceDiagramRows, CollapsesRunsOfAlikeEvents) {
  const auto events = test::sample_events(37);
  const DiagramRows layout = collapse_rows(events, 400);
  EXPECT_EQ(layout.omitted_events, 0u);
  ASSERT_EQ(layout.rows.size(), 15u);
  EXPECT_EQ(layout.rows[2].count, 4u);   // LAUNCH_UPDATE
  EXPECT_EQ(layout.rows[5].count, 37u);  // NPT_MAP
  EXPECT_EQ(row_label(events, layout.rows[5]), "NPT_MAP \u00d737 (vm 1)");
  EXPECT_EQ(row_label(events, layout.rows[4]),
            "nested_page_fault gpa=0x200000 access=write (vm 1)");
  EXPECT_EQ(row_label(events, layout.rows[6]),
            "SECURE_CALL status=replayed_request call=DISK_IO sequence=7 (vm 1)");
  EXPECT_TRUE(row_refused(events, layout.rows[6]));
  EXPECT_FALSE(row_refused(events, layout.rows[5]));
  EXPECT_EQ(row_label(events, layout.rows[0]), "pack sectors=2048 image=disk.img");
  std::size_t covered = 0;
  for (const auto& r : layout.rows) {
    EXPECT_EQ(r.first, covered);
    covered += r.count;
  }
  EXPECT_EQ(covered, events.size());
}

TEST(TraceDiagramRows, DifferentStatusOrVmBreaksARun) {
  auto events = test::sample_events(10);
  events[12].args["status"] = "frame_not_available";  // the 5th NPT_MAP of the run
  const DiagramRows layout = collapse_rows(events, 400);
  EXPECT_EQ(layout.rows[5].count, 4u);
  EXPECT_EQ(layout.rows[6].count, 1u);
  EXPECT_EQ(layout.rows[7].count, 5u);
}

TEST(TraceDiagramRows, CapsRowsAndCountsTheRest) {
  const auto events = test::sample_events();
  const DiagramRows layout = collapse_rows(events, 5);
  ASSERT_EQ(layout.rows.size(), 5u);
  EXPECT_EQ(layout.omitted_events, events.size() - 8);
  const std::string svg = render_sequence_svg(events, {.max_rows = 5, .title = ""});
  EXPECT_NE(svg.find("\u2026 46 more events"), std::string::npos);
  EXPECT_EQ(svg.find("NPT_MAP"), std::string::npos);
  EXPECT_THROW(render_sequence_svg(events, {.max_rows = 0, .title = ""}), TraceError);
}

class TraceDiagramFile : public ::testing::Test {
 protected:
  test::TempDir dir;

  std::string write(const std::string& name, const std::string& svg) {
    const auto path = (dir / name).string();
    write_text_file_atomic(path, svg);
    return path;
  }

  // xmllint (libxml2) parses the file as XML; it prints nothing when it is well-formed.
  void expect_well_formed(const std::string& path) {
    const auto r = run_command({"xmllint", "--noout", path});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.err, "");
  }

  test::PngImage render(const std::string& svg_path) {
    const std::string png = svg_path + ".png";
    const auto r = run_command({"rsvg-convert", "--format", "png", "--output", png, svg_path});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const Bytes data = read_file(png);
    return test::decode_png({data.begin(), data.end()});
  }
};

bool is_white(const test::PngImage& img, std::size_t i) {
  return img.rgba[i * 4] > 250 && img.rgba[i * 4 + 1] > 250 && img.rgba[i * 4 + 2] > 250 &&
         img.rgba[i * 4 + 3] == 255;
}
bool is_red(const test::PngImage& img, std::size_t i) {
  return img.rgba[i * 4] > 150 && img.rgba[i * 4 + 1] < 100 && img.rgba[i * 4 + 2] < 100;
}

TEST_F(TraceDiagramFile, WellFormedWithDeclaredSizeAndEscapedText) {
  const auto events = test::sample_events();
  const std::string svg = render_sequence_svg(events, {.max_rows = 400, .title = "boot <1> & co"});
  expect_well_formed(write("d.svg", svg));
  const SvgLayout layout = sequence_svg_layout(15, true);
  const std::string header = "width=\"" + std::to_string(layout.width) + "\" height=\"" +
                             std::to_string(layout.height) + "\" viewBox=\"0 0 " +
                             std::to_string(layout.width) + " " + std::to_string(layout.height) +
                             "\"";
  EXPECT_NE(svg.find(header), std::string::npos) << svg.substr(0, 400);
  EXPECT_NE(svg.find("boot &lt;1&gt; &amp; co"), std::string::npos);
  EXPECT_NE(svg.find("note=a &lt;label&gt; &amp; &quot;quotes&quot; &apos;ap"), std::string::npos);
  for (const char* lane : {"provider tools", "tenant", "VMM (untrusted)", "guest", "PSP",
                           "disk controller", "memory controller"}) {
    EXPECT_NE(svg.find(std::string(">") + lane + "<"), std::string::npos) << lane;
  }
  EXPECT_NE(svg.find("NPT_MAP \u00d737"), std::string::npos);
  // Lanes in the order of the enum: provider tools left of tenant left of ... .
  EXPECT_LT(svg.find(">provider tools<"), svg.find(">memory controller<"));
  // No external resources: no links, no style sheets, no images.
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_EQ(svg.find("<style"), std::string::npos);
}

TEST_F(TraceDiagramFile, HostileStringsStayWellFormed) {
  auto events = test::sample_events(2);
  events[0].name = "a\x01<b>\xff\xfe]]>&#0;\xef\xbf\xbf";
  events[0].args = {{"status", "\x02</text><script>"}, {"gpa", "\xc0\x80"}};
  events[1].args["x"] = std::string(500, '&');
  const std::string svg = render_sequence_svg(events, {.max_rows = 400, .title = "\x1b[0m"});
  expect_well_formed(write("hostile.svg", svg));
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_EQ(svg.find("]]>"), std::string::npos);
}

TEST_F(TraceDiagramFile, RenderedByRsvgAtTheDeclaredSizeWithRedRefusals) {
  const auto events = test::sample_events();
  const std::string path = write("boot.svg", render_sequence_svg(events, {}));
  const test::PngImage img = render(path);
  const DiagramRows rows = collapse_rows(events, 400);
  const SvgLayout layout = sequence_svg_layout(rows.rows.size(), false);
  ASSERT_EQ(img.width, static_cast<std::uint32_t>(layout.width));
  ASSERT_EQ(img.height, static_cast<std::uint32_t>(layout.height));

  std::size_t ink = 0;
  std::vector<std::size_t> red_per_row(rows.rows.size(), 0);
  std::size_t red_elsewhere = 0;
  for (std::size_t y = 0; y < img.height; ++y) {
    for (std::size_t x = 0; x < img.width; ++x) {
      const std::size_t i = y * img.width + x;
      if (!is_white(img, i)) ++ink;
      if (!is_red(img, i)) continue;
      const long row = (static_cast<long>(y) - layout.rows_top) / layout.row_height;
      if (static_cast<long>(y) >= layout.rows_top && row < static_cast<long>(rows.rows.size())) {
        ++red_per_row[static_cast<std::size_t>(row)];
      } else {
        ++red_elsewhere;
      }
    }
  }
  // Lanes, headers, arrows and text: a real picture covers a few percent of the canvas.
  EXPECT_GT(ink, std::size_t{img.width} * img.height / 50) << ink;
  EXPECT_EQ(red_elsewhere, 0u);
  for (std::size_t r = 0; r < rows.rows.size(); ++r) {
    if (row_refused(events, rows.rows[r])) {
      EXPECT_GT(red_per_row[r], 50u) << "refused row " << r << " is not drawn in red";
    } else {
      EXPECT_EQ(red_per_row[r], 0u) << "row " << r << " is red but was not refused";
    }
  }
}

// The checker itself must see a blank picture as blank, or the test above proves nothing.
TEST_F(TraceDiagramFile, ABlankPictureOfTheSameSizeIsSeenAsBlank) {
  const SvgLayout layout = sequence_svg_layout(15, false);
  const std::string blank = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                            std::to_string(layout.width) + "\" height=\"" +
                            std::to_string(layout.height) +
                            "\"><rect width=\"100%\" "
                            "height=\"100%\" fill=\"#ffffff\"/></svg>\n";
  const test::PngImage img = render(write("blank.svg", blank));
  ASSERT_EQ(img.width, static_cast<std::uint32_t>(layout.width));
  std::size_t ink = 0;
  for (std::size_t i = 0; i < std::size_t{img.width} * img.height; ++i) ink += !is_white(img, i);
  EXPECT_EQ(ink, 0u);
}

TEST_F(TraceDiagramFile, AnEmptyTraceStillDrawsAllLanes) {
  const std::string svg = render_sequence_svg({}, {});
  expect_well_formed(write("empty.svg", svg));
  const std::regex lane("<rect [^>]*fill=\"#e3f2fd\"");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(svg.begin(), svg.end(), lane), std::sregex_iterator()), 7);
  const test::PngImage img = render(write("empty2.svg", svg));
  EXPECT_EQ(img.height, static_cast<std::uint32_t>(sequence_svg_layout(0, false).height));
}

}  // namespace
}  // namespace cvmsim::trace
