// Events like a protected-image boot records them, made with the real Recorder and clock,
// for the trace tools' tests.
#pragma once

#include <vector>

#include "trace/trace.h"

namespace cvmsim::test {

// 54 events (with the default run): launch commands, 37 NPT_MAPs in a row, a refused secure call, a
// DMA, an interrupt, timer ticks and a VM stop; two VMs. `npt_maps` sets the NPT_MAP run.
std::vector<trace::Event> sample_events(int npt_maps = 37);

}  // namespace cvmsim::test
