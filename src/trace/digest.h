// A fingerprint of a run: SHA-256 over a canonical serialisation of its events
// (docs/formats.md, "Event trace": "Digest"). Two runs with the same digest recorded the
// same events with the same arguments at the same simulated times.
#pragma once

#include <string>
#include <vector>

#include "trace/trace.h"

namespace cvmsim::trace {

// The bytes that are hashed: "cvmsim-trace-digest-v1\n", then for each event the compact
// JSON array [seq, sim_ns, actor, target or null, name, category, vm, asid, args] (keys
// sorted, no spaces) and "\n". Throws TraceError{malformed} if a string is not UTF-8.
std::string canonical_events(const std::vector<Event>& events);

// Lowercase hex of SHA-256 over canonical_events(events).
std::string digest(const std::vector<Event>& events);

}  // namespace cvmsim::trace
