// Reads a trace written by write_trace (docs/formats.md, "Event trace") back into events.
// The file is outside input: every field is checked, and any defect is a TraceError that
// names the file, the event (its index in traceEvents) and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "trace/trace.h"

namespace cvmsim::trace {

// About 200 000 events as write_trace lays them out; the parsed document takes several
// times the file's size in memory, so the limit is kept well below the host's.
inline constexpr std::uint64_t kMaxTraceFileSize = 64ull << 20;
// Nesting allowed in an event's args, args itself being the first level (the document adds
// three levels above).
inline constexpr int kMaxTraceDepth = 32;

// Throws TraceError{io, too_large, malformed} and nothing else.
std::vector<Event> read_trace(const std::filesystem::path& path,
                              std::uint64_t max_size = kMaxTraceFileSize);

// The same for a trace already in memory; `source` names it in messages.
std::vector<Event> parse_trace(std::string_view text, std::string_view source);

}  // namespace cvmsim::trace
