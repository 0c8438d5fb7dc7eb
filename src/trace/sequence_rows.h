// The rows of a sequence diagram: runs of alike consecutive events collapse into one row
// ("NPT_MAP ×37"), and the number of rows is capped, so a boot of thousands of events stays
// readable. Kept apart from the drawing so the collapsing can be tested on its own.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace cvmsim::trace {

struct DiagramRow {
  std::size_t first = 0;  // index of the run's first event
  std::size_t count = 1;  // events in the run
};

struct DiagramRows {
  std::vector<DiagramRow> rows;    // at most max_rows
  std::size_t omitted_events = 0;  // events after the last row ("… N more events")
};

// Consecutive events collapse when they have the same actor, target, name, status and VM
// (the VM too: interleaved VMs would otherwise be counted as one).
DiagramRows collapse_rows(const std::vector<Event>& events, std::size_t max_rows);

// "NPT_MAP gpa=0x10000 pages=16 (vm 1)", "NPT_MAP ×37 (vm 1)", "SECURE_CALL status=
// replayed_request ...": the name, the count, a refused status and a few key arguments
// (only for single events: a run's arguments differ).
std::string row_label(const std::vector<Event>& events, const DiagramRow& row);

// True when the row's status is present and not "success" (drawn in red).
bool row_refused(const std::vector<Event>& events, const DiagramRow& row);

}  // namespace cvmsim::trace
