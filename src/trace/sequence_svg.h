// A sequence diagram of a trace as standalone SVG 1.1: one lane per actor (all seven, in
// the order of trace::Actor), time downwards, one row per event or run of alike events.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace cvmsim::trace {

struct SvgOptions {
  std::size_t max_rows = 400;  // event rows; the rest is summed up in one last row
  std::string title;           // drawn above the lanes (e.g. the trace's file name)
};

inline constexpr std::size_t kMaxSvgRows = 100'000;

// Where things are, in px: the size (also the viewBox) and the band of each row, which
// lies entirely within [rows_top + r * row_height, rows_top + (r + 1) * row_height).
struct SvgLayout {
  int width = 0;
  int height = 0;
  int rows_top = 0;
  int row_height = 0;
};

SvgLayout sequence_svg_layout(std::size_t drawn_rows, bool has_title);

// Throws TraceError{invalid_option} when max_rows is 0 or above kMaxSvgRows.
std::string render_sequence_svg(const std::vector<Event>& events, const SvgOptions& options = {});

}  // namespace cvmsim::trace
