#include "lab/explore/explorer.h"

#include <unordered_set>

namespace cvmsim::lab::explore {

ExploreResult explore(const WorldSetup& setup, std::size_t depth,
                      const std::vector<Action>& alphabet,
                      const std::function<void(const ExploreStats&)>& progress) {
  ExploreResult result;
  std::unordered_set<std::string> seen;
  {
    SmallWorld initial(setup);
    seen.insert(initial.digest());
  }
  result.stats.states = 1;
  std::vector<std::vector<Action>> frontier = {{}};
  for (std::size_t level = 1; level <= depth && !frontier.empty(); ++level) {
    std::vector<std::vector<Action>> next;
    for (const std::vector<Action>& prefix : frontier) {
      for (const Action& action : alphabet) {
        // Worlds cannot be copied (they hold a platform), so every sequence is replayed
        // from the launch; the prefix's states were checked when it was first reached.
        SmallWorld w(setup);
        for (const Action& earlier : prefix) (void)w.apply(earlier);
        const StepResult step = w.apply(action);
        result.stats.steps += prefix.size() + 1;
        ++result.stats.sequences;
        std::vector<Action> sequence = prefix;
        sequence.push_back(action);
        std::vector<std::string> broken = w.check(action, step);
        const std::string state = w.digest();
        if (!seen.insert(state).second) continue;
        ++result.stats.states;
        if (!broken.empty()) {
          result.findings.push_back({std::move(sequence), std::move(broken)});
          continue;  // a broken state is reported, not explored further
        }
        next.push_back(std::move(sequence));
      }
    }
    result.stats.depth = level;
    result.stats.frontier.push_back(next.size());
    frontier = std::move(next);
    if (progress) progress(result.stats);
  }
  return result;
}

}  // namespace cvmsim::lab::explore
