// How the trace tools show events to people: simulated times, one-line events and a flat
// JSON object per event (used by `cvmsim trace` output and the diff report).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "trace/trace.h"

namespace cvmsim::trace {

// "750 ns", "12.500 us", "3.000125 ms", "1.000000000 s": exact to the nanosecond.
std::string format_sim_ns(std::uint64_t ns);

// {"seq", "sim_ns", "actor", "target" (null for a local event), "name", "category", "vm",
// "asid", "args"}.
nlohmann::json event_to_json(const Event& event);

// "#12  3.000125 ms  vmm -> psp  NPT_MAP [psp_command] vm=1 asid=1 {"gpa":4096}".
std::string format_event_line(const Event& event);

// Compact, ASCII-only JSON text of a value for messages; never throws (invalid UTF-8 is
// replaced).
std::string compact_json(const nlohmann::json& value);

// `s` as it is when it is a plain token (printable ASCII, no spaces or quotes), quoted as
// JSON otherwise, so one event stays one unambiguous line on a terminal.
std::string display_token(const std::string& s);

// The event's "status" argument as text: "" when there is none, the string itself when it
// is a string, its JSON text otherwise.
std::string event_status(const Event& event);

}  // namespace cvmsim::trace
