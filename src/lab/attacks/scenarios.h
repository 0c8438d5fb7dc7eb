// The scenario groups the catalogue concatenates (one file per group).
#pragma once

#include <cstddef>

#include "lab/attacks/catalogue.h"

namespace cvmsim::lab::attacks {

extern const Scenario kNptScenarios[];
extern const std::size_t kNptScenarioCount;
extern const Scenario kMemoryScenarios[];
extern const std::size_t kMemoryScenarioCount;
extern const Scenario kTlbScenarios[];
extern const std::size_t kTlbScenarioCount;
extern const Scenario kLaunchScenarios[];
extern const std::size_t kLaunchScenarioCount;
extern const Scenario kImageScenarios[];
extern const std::size_t kImageScenarioCount;
extern const Scenario kInterruptScenarios[];
extern const std::size_t kInterruptScenarioCount;
extern const Scenario kPlatformScenarios[];
extern const std::size_t kPlatformScenarioCount;

}  // namespace cvmsim::lab::attacks
