// The PSP timer's periodic NPT check on the simulated clock (Psp members; the timer itself
// is npt_guard/check_timer.h).
//
// Each tick checks every guarded, live VM: a VM an earlier check already found tampered
// is stopped at once; otherwise `pages_per_tick` of its table pages are compared with their
// stored leaves (merkle), or the whole table is recomputed (pages_per_tick 0, and always
// for `full`, whose single hash cannot be split). Ticks that fell due together do the work
// of each, but never more than one full round of a VM's table: with no command in between
// a second round could not see anything new.
#include "psp/psp.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {

void Psp::set_periodic_check(const PeriodicCheckConfig& config) {
  timer_.configure(config.interval_us, timer_.now());
  check_pages_per_tick_ = config.pages_per_tick;
}

std::vector<VmHandle> Psp::advance_clock(std::uint64_t now_us) {
  const std::uint64_t ticks = timer_.advance(now_us);
  std::vector<VmHandle> stopped;
  if (ticks == 0) return stopped;
  std::size_t checked = 0;
  for (auto& [handle, vm] : vms_) {
    if (!vm->guard || vm->state == VmState::stopped || vm->state == VmState::refused) continue;
    ++checked;
    bool clean = !vm->tampered;
    if (clean) {
      const std::uint64_t pages = vm->guard->table_pages();
      const bool whole = check_pages_per_tick_ == 0 ||
                         vm->guard->algorithm() == measure::NptIntegrity::full ||
                         ticks >= (pages + check_pages_per_tick_ - 1) / check_pages_per_tick_;
      clean =
          whole ? vm->guard->check_all(mc_) : vm->guard->sweep(mc_, ticks * check_pages_per_tick_);
    }
    if (!clean) {
      vm->tampered = true;
      stop(*vm, StopReason::npt_tampered);
      stopped.push_back(handle);
    }
  }
  trace_periodic_check(ticks, checked, stopped);
  return stopped;
}

std::optional<std::pair<Bytes, Bytes>> Psp::npt_digest_check(VmHandle handle) {
  Vm* vm = find(handle);
  if (vm == nullptr || !vm->guard) return std::nullopt;
  return std::pair{vm->guard->value(), vm->guard->recompute(mc_)};
}

std::optional<Bytes> Psp::npt_digest(VmHandle handle) {
  Vm* vm = find(handle);
  if (vm == nullptr || !vm->guard) return std::nullopt;
  return vm->guard->value();
}

}  // namespace cvmsim::psp
