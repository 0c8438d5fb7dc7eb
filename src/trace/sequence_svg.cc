#include "trace/sequence_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "trace/event_text.h"
#include "trace/sequence_rows.h"
#include "trace/trace_error.h"
#include "trace/xml_text.h"

namespace cvmsim::trace {
namespace {

constexpr std::array<std::string_view, kActorCount> kLaneTitles = {
    "provider tools",  "tenant",           "VMM (untrusted)", "guest", "PSP",
    "disk controller", "memory controller"};

// Layout in px. Labels are 11 px sans-serif; an average glyph is taken as 6.2 px wide to
// keep labels inside the picture (a guess that errs wide: nothing is measured).
constexpr int kMargin = 10;
constexpr int kTimeColumn = 120;
constexpr int kLaneWidth = 160;
constexpr int kTitleHeight = 24;
constexpr int kHeaderHeight = 34;
constexpr int kRowHeight = 22;
constexpr int kFooter = 16;
constexpr double kCharWidth = 6.2;
constexpr std::size_t kMaxLabelChars = 64;
constexpr std::string_view kInk = "#222222";
constexpr std::string_view kRefusedInk = "#c62828";

int lanes_left() {
  return kMargin + kTimeColumn;
}
int lane_x(Actor actor) {
  return lanes_left() + static_cast<int>(actor) * kLaneWidth + kLaneWidth / 2;
}
int diagram_width() {
  return lanes_left() + static_cast<int>(kActorCount) * kLaneWidth + kMargin;
}

class SvgWriter {
 public:
  SvgWriter(std::size_t rows, const std::string& title)
      : size_(sequence_svg_layout(rows, !title.empty())) {
    out_ += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out_ += fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" "
        "height=\"{1}\" viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        size_.width, size_.height);
    out_ += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
                        size_.width, size_.height);
    int y = kMargin;
    if (!title.empty()) {
      out_ += fmt::format(
          "<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\" "
          "fill=\"{}\">{}</text>\n",
          kMargin, y + 14, kInk, xml_text(title, 120));
      y += kTitleHeight;
    }
    lanes(y);
  }

  [[nodiscard]] int row_top(std::size_t row) const {
    return size_.rows_top + static_cast<int>(row) * kRowHeight;
  }

  void time_cell(std::size_t row, std::uint64_t ns) {
    const int top = row_top(row);
    if (row % 2 == 1) {
      out_ += fmt::format("<rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f4f6f8\"/>\n",
                          top, size_.width, kRowHeight);
    }
    out_ += fmt::format(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-family=\"monospace\" "
        "fill=\"#555555\">{}</text>\n",
        kMargin + kTimeColumn - 8, top + 15, xml_text(format_sim_ns(ns)));
  }

  void arrow(std::size_t row, Actor from, Actor to, const std::string& label, bool refused) {
    const int top = row_top(row);
    const int y = top + 17;
    const int x1 = lane_x(from);
    const int x2 = lane_x(to);
    const int dir = x2 > x1 ? 1 : -1;
    const std::string_view ink = refused ? kRefusedInk : kInk;
    out_ += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
        "stroke-width=\"{}\"/>\n",
        x1, y, x2 - dir * 8, y, ink, refused ? 2 : 1);
    out_ += fmt::format("<polygon points=\"{},{} {},{} {},{}\" fill=\"{}\"/>\n", x2, y,
                        x2 - dir * 9, y - 4, x2 - dir * 9, y + 4, ink);
    text((x1 + x2) / 2, top + 11, label, refused, "middle");
  }

  void local(std::size_t row, Actor actor, const std::string& label, bool refused) {
    const int top = row_top(row);
    const int x = lane_x(actor);
    const std::string_view ink = refused ? kRefusedInk : kInk;
    out_ += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\" "
        "stroke=\"{}\"/>\n",
        x - 5, top + 6, refused ? "#ffcdd2" : "#e0e0e0", ink);
    // Right of the box, except on the last lanes where there is no room on the right.
    if (static_cast<std::size_t>(actor) + 2 < kActorCount) {
      text(x + 10, top + 15, label, refused, "start");
    } else {
      text(x - 10, top + 15, label, refused, "end");
    }
  }

  void more(std::size_t row, std::size_t omitted) {
    out_ += fmt::format(
        "<text x=\"{}\" y=\"{}\" font-style=\"italic\" fill=\"#555555\">"
        "\u2026 {} more event{}</text>\n",
        lanes_left(), row_top(row) + 15, omitted, omitted == 1 ? "" : "s");
  }

  std::string finish() && {
    out_ += "</svg>\n";
    return std::move(out_);
  }

 private:
  void lanes(int y) {
    const int bottom = size_.height - kFooter;
    for (std::size_t i = 0; i < kActorCount; ++i) {
      const int x = lane_x(static_cast<Actor>(i));
      out_ += fmt::format(
          "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#b0b0b0\" "
          "stroke-dasharray=\"4,3\"/>\n",
          x, y + kHeaderHeight, bottom);
      out_ += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" "
          "fill=\"#e3f2fd\" stroke=\"#1565c0\"/>\n",
          x - kLaneWidth / 2 + 6, y, kLaneWidth - 12, kHeaderHeight - 8);
      out_ += fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" "
          "font-weight=\"bold\" fill=\"#0d47a1\">{}</text>\n",
          x, y + 17, xml_text(kLaneTitles[i]));
    }
    out_ += fmt::format(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"bold\" "
        "fill=\"#555555\">simulated time</text>\n",
        kMargin + kTimeColumn - 8, y + 17);
  }

  // Keeps the label's estimated extent inside the lanes' area.
  void text(int x, int y, const std::string& label, bool refused, std::string_view anchor) {
    const auto chars = static_cast<double>(std::min(display_chars(label), kMaxLabelChars));
    const int extent = static_cast<int>(chars * kCharWidth);
    const int lo = lanes_left();
    const int hi = size_.width - kMargin;
    if (anchor == "middle") {
      x = std::clamp(x, std::min(lo + extent / 2, hi), std::max(hi - extent / 2, lo));
    } else if (anchor == "start") {
      x = std::min(x, std::max(hi - extent, lo));
    } else {
      x = std::max(x, std::min(lo + extent, hi));
    }
    out_ += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" fill=\"{}\"{}>{}</text>\n", x,
                        y, anchor, refused ? kRefusedInk : kInk,
                        refused ? " font-weight=\"bold\"" : "", xml_text(label, kMaxLabelChars));
  }

  SvgLayout size_;
  std::string out_;
};

}  // namespace

SvgLayout sequence_svg_layout(std::size_t drawn_rows, bool has_title) {
  const int rows = static_cast<int>(std::min(drawn_rows, kMaxSvgRows + 1));
  const int rows_top = (has_title ? kTitleHeight : 0) + kMargin + kHeaderHeight + 8;
  return {diagram_width(), rows_top + rows * kRowHeight + kFooter, rows_top, kRowHeight};
}

std::string render_sequence_svg(const std::vector<Event>& events, const SvgOptions& options) {
  if (options.max_rows == 0 || options.max_rows > kMaxSvgRows) {
    throw TraceError(TraceErrc::invalid_option, fmt::format("max rows {} is out of range 1..{}",
                                                            options.max_rows, kMaxSvgRows));
  }
  const DiagramRows layout = collapse_rows(events, options.max_rows);
  const std::size_t drawn = layout.rows.size() + (layout.omitted_events > 0 ? 1 : 0);
  SvgWriter svg(drawn, options.title);
  for (std::size_t r = 0; r < layout.rows.size(); ++r) {
    const DiagramRow& row = layout.rows[r];
    const Event& e = events[row.first];
    svg.time_cell(r, e.sim_ns);
    const std::string label = row_label(events, row);
    const bool refused = row_refused(events, row);
    // A message to oneself has no arrow to draw: it is shown like a local event.
    if (e.target && *e.target != e.actor) {
      svg.arrow(r, e.actor, *e.target, label, refused);
    } else {
      svg.local(r, e.actor, label, refused);
    }
  }
  if (layout.omitted_events > 0) svg.more(layout.rows.size(), layout.omitted_events);
  return std::move(svg).finish();
}

}  // namespace cvmsim::trace
