// Stateful fuzzing of the platform as the untrusted host drives it: the input is a
// sequence of host actions (src/lab/explore/action.h: mailbox commands over the world's
// frames and pages, host writes into any frame, tampering with a VM's tables, timer ticks)
// against two launched VMs; the first byte picks the guard mode. After every action the
// platform's invariants are checked (SmallWorld::check); a broken one prints the sequence
// and aborts, so libFuzzer keeps the input as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "common/scratch_dir.h"
#include "lab/explore/small_world.h"

using namespace cvmsim;

namespace {

constexpr std::size_t kMaxActions = 48;

struct Fixture {
  ScratchDir dir{"cvmsim-fuzz-psp"};
  lab::World world{dir.path(), crypto::SuiteId::sm};
  lab::explore::WorldSetup detect{world, {.guard = measure::GuardMode::detect}};
  lab::explore::WorldSetup isolate{world, {.guard = measure::GuardMode::isolate}};
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const lab::explore::WorldSetup& setup = (data[0] & 1) ? fixture().isolate : fixture().detect;
  std::vector<lab::explore::Action> actions =
      lab::explore::decode_actions(ByteView(data + 1, size - 1), setup.config.vms,
                                   setup.config.guest_pages, setup.config.pool_frames);
  if (actions.size() > kMaxActions) actions.resize(kMaxActions);
  lab::explore::SmallWorld world(setup);
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const lab::explore::StepResult step = world.apply(actions[i]);
    const std::vector<std::string> broken = world.check(actions[i], step);
    if (broken.empty()) continue;
    const std::vector<lab::explore::Action> prefix(actions.begin(),
                                                   actions.begin() + static_cast<long>(i) + 1);
    std::fprintf(stderr, "invariant broken (%s guard) after:\n%s\n",
                 (data[0] & 1) ? "isolate" : "detect", lab::explore::to_string(prefix).c_str());
    for (const std::string& b : broken) std::fprintf(stderr, "  - %s\n", b.c_str());
    std::abort();
  }
  return 0;
}
