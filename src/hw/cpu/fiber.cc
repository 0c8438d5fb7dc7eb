#include "hw/cpu/fiber.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <new>

#include "hw/hw_error.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CVMSIM_ASAN_FIBERS 1
#endif

namespace cvmsim::hw::cpu {
namespace {

// makecontext() cannot pass a pointer portably; the fiber being started is handed over here.
thread_local Fiber* starting_fiber = nullptr;

}  // namespace

struct Fiber::Context {
  ucontext_t caller{};
  ucontext_t fiber{};
  void* stack = nullptr;
  std::size_t stack_size = 0;
  // AddressSanitizer's view of the stacks (it must be told about every switch).
  void* fake_stack = nullptr;
  const void* caller_bottom = nullptr;
  std::size_t caller_size = 0;
};

Fiber::Fiber(std::function<void()> body, std::size_t stack_size)
    : body_(std::move(body)), context_(std::make_unique<Context>()) {
  void* stack = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) throw std::bad_alloc();
  context_->stack = stack;
  context_->stack_size = stack_size;
}

Fiber::~Fiber() {
  if (context_->stack != nullptr) ::munmap(context_->stack, context_->stack_size);
}

void Fiber::entry() {
  Fiber* self = starting_fiber;
  starting_fiber = nullptr;
#ifdef CVMSIM_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &self->context_->caller_bottom,
                                  &self->context_->caller_size);
#endif
  try {
    self->body_();
  } catch (...) {
    self->failure_ = std::current_exception();
  }
  self->finished_ = true;
  self->switch_out(true);
}

void Fiber::resume() {
  if (finished_) return;
  Context& c = *context_;
  if (!started_) {
    started_ = true;
    if (::getcontext(&c.fiber) != 0) throw HwError(HwErrc::cpu, "getcontext failed");
    c.fiber.uc_stack.ss_sp = c.stack;
    c.fiber.uc_stack.ss_size = c.stack_size;
    c.fiber.uc_link = nullptr;
    ::makecontext(&c.fiber, &Fiber::entry, 0);
    starting_fiber = this;
  }
  inside_ = true;
#ifdef CVMSIM_ASAN_FIBERS
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, c.stack, c.stack_size);
#endif
  ::swapcontext(&c.caller, &c.fiber);
#ifdef CVMSIM_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  inside_ = false;
  if (failure_) {
    std::exception_ptr failure = failure_;
    failure_ = nullptr;
    std::rethrow_exception(failure);
  }
}

void Fiber::yield() {
  switch_out(false);
}

void Fiber::switch_out(bool final_switch) {
  Context& c = *context_;
#ifdef CVMSIM_ASAN_FIBERS
  __sanitizer_start_switch_fiber(final_switch ? nullptr : &c.fake_stack, c.caller_bottom,
                                 c.caller_size);
#else
  (void)final_switch;
#endif
  ::swapcontext(&c.fiber, &c.caller);
#ifdef CVMSIM_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(c.fake_stack, &c.caller_bottom, &c.caller_size);
#endif
}

}  // namespace cvmsim::hw::cpu
