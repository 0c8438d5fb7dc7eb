// Event traces (docs/formats.md, "Event trace"): `cvmsim trace show|diagram|diff|digest`
// read files a user was handed. Reading, summarising, digesting, drawing and diffing a trace
// may only refuse with a named error; an accepted trace written again reads back the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "fuzz_check.h"
#include "trace/diff.h"
#include "trace/digest.h"
#include "trace/reader.h"
#include "trace/sequence_svg.h"
#include "trace/summary.h"
#include "trace/trace.h"

using namespace cvmsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::refuse_only_with<Error>([&] {
    const std::vector<trace::Event> events = trace::parse_trace(text, "fuzz.json");
    const std::vector<trace::Event> again =
        trace::parse_trace(trace::to_chrome_json(events).dump(), "rewritten");
    FUZZ_CHECK(again == events);
    (void)trace::digest(events);
    const trace::Summary summary = trace::summarise(events);
    (void)trace::format_summary_text(summary);
    (void)trace::summary_to_json(summary);
    (void)trace::render_sequence_svg(events);
    FUZZ_CHECK(!trace::first_divergence(events, again).has_value());
  });
  return 0;
}
