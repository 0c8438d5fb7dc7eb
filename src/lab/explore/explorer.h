// Exhaustive bounded exploration: every sequence of actions from an alphabet up
// to a depth, breadth first, each replayed on a fresh SmallWorld and checked after every
// step. States are deduplicated by SmallWorld::digest(): a sequence that reaches a state
// already seen is not extended. A violation is reported with the sequence that reached
// it; breadth-first order makes that the shortest such sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lab/explore/action.h"
#include "lab/explore/small_world.h"

namespace cvmsim::lab::explore {

struct Finding {
  std::vector<Action> sequence;
  std::vector<std::string> violations;
};

struct ExploreStats {
  std::size_t depth = 0;              // deepest level completed
  std::size_t states = 0;             // distinct states reached (the initial one included)
  std::size_t sequences = 0;          // sequences executed (each on a fresh world)
  std::size_t steps = 0;              // actions applied, replays included
  std::vector<std::size_t> frontier;  // new states found at each depth
};

struct ExploreResult {
  ExploreStats stats;
  std::vector<Finding> findings;  // at most one per violated state, shortest first
};

// `progress` (optional) is told each finished depth.
ExploreResult explore(const WorldSetup& setup, std::size_t depth,
                      const std::vector<Action>& alphabet,
                      const std::function<void(const ExploreStats&)>& progress = {});

}  // namespace cvmsim::lab::explore
