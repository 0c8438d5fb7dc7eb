// A minimal fiber (a second stack that the caller switches into and that switches back):
// the guest CPU runs Unicorn on one so that a hook can hand a VM exit to the caller of
// GuestCpu::run() *in the middle of an instruction* and finish that instruction when the
// VMM resumes. Unicorn 2.0.1 cannot stop precisely inside an instruction (after a memory
// hook refuses an access it reports the RIP of the translation block, not of the
// instruction), so exits that must be exact are taken this way.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>

namespace cvmsim::hw::cpu {

class Fiber {
 public:
  explicit Fiber(std::function<void()> body, std::size_t stack_size = 1u << 20);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  // The body must have finished (a suspended body's stack is dropped without unwinding).
  ~Fiber();

  // From the caller: runs the body until it yields or returns. Rethrows what the body threw.
  void resume();
  // From inside the body: returns control to resume()'s caller.
  void yield();
  [[nodiscard]] bool started() const noexcept { return started_; }
  [[nodiscard]] bool finished() const noexcept { return finished_; }
  [[nodiscard]] bool inside() const noexcept { return inside_; }

 private:
  struct Context;
  static void entry();
  void switch_out(bool final_switch);

  std::function<void()> body_;
  std::unique_ptr<Context> context_;
  std::exception_ptr failure_;
  bool started_ = false;
  bool finished_ = false;
  bool inside_ = false;
};

}  // namespace cvmsim::hw::cpu
