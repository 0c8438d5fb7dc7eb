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
    for (CommandClass c :
         {CommandClass::launch_update, CommandClass::launch_finish, CommandClass::mapping,
          CommandClass::donate, CommandClass::attach, CommandClass::run, CommandClass::stop}) {
      EXPECT_FALSE(allowed(dead, c)) << to_string(dead);
    }
    EXPECT_TRUE(allowed(dead, CommandClass::any));  // DECOMMISSION and TLB_TRACK still work
  }
}

TEST(VmState, AStoppedVmsHostLearnsItWasStoppedWhereItKeepsAsking) {
  // Mapping, donating and secure calls answer vm_stopped (with the reason)...
  for (CommandClass c : {CommandClass::mapping, CommandClass::donate, CommandClass::run}) {
    EXPECT_TRUE(refused_as_stopped(VmState::stopped, c));
  }
  // ...launch steps, disk attachment and VM_STOP answer invalid_state.
  for (CommandClass c : {CommandClass::launch_update, CommandClass::launch_finish,
                         CommandClass::attach, CommandClass::stop}) {
    EXPECT_FALSE(refused_as_stopped(VmState::stopped, c));
  }
  // A VM whose launch was refused was never running: only a donation says vm_stopped.
  EXPECT_TRUE(refused_as_stopped(VmState::refused, CommandClass::donate));
  EXPECT_FALSE(refused_as_stopped(VmState::refused, CommandClass::mapping));
  EXPECT_FALSE(refused_as_stopped(VmState::running, CommandClass::run));
}

}  // namespace
}  // namespace cvmsim::psp
