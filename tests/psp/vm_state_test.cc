#include "psp/vm_state.h"

#include <gtest/gtest.h>

namespace cvmsim::psp {
namespace {

TEST(VmState, OnlyTheDocumentedTransitionsAreAllowed) {
  EXPECT_TRUE(allowed(VmState::launching, CommandClass::launch_update));
  EXPECT_FALSE(allowed(VmState::verified, CommandClass::launch_update));
  EXPECT_FALSE(allowed(VmState::running, CommandClass::launch_update));
  EXPECT_TRUE(allowed(VmState::verified, CommandClass::launch_finish));
  EXPECT_FALSE(allowed(VmState::launching, CommandClass::launch_finish));
  EXPECT_TRUE(allowed(VmState::running, CommandClass::run));
  EXPECT_FALSE(allowed(VmState::verified, CommandClass::run));
  for (VmState dead : {VmState::refused, VmState::stopped}) {
    for (CommandClass c : {CommandClass::launch_update, CommandClass::launch_finish,
                           CommandClass::mapping, CommandClass::run, CommandClass::stop}) {
      EXPECT_FALSE(allowed(dead, c)) << to_string(dead);
    }
  }
}

}  // namespace
}  // namespace cvmsim::psp
