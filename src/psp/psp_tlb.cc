// TLB tracking, in the style of TDX's TDH.MEM.TRACK (docs/architecture.md, "TLB
// tracking"). NPT_UNMAP leaves each private frame it takes with its VM, recorded here with
// the VM's current epoch; TLB_TRACK advances the epoch, and the VM's vCPUs record in the
// hardware tracker when they flush (at their next entry, or when the VMM flushes them).
// A recorded frame goes to another owner (a VM, an NPT, the PSP) only once the epoch is
// past its record and every vCPU has flushed since: until then a vCPU may still hold a
// translation of it, and the frame is refused with tlb_not_tracked.
#include "hw/npt.h"
#include "psp/psp.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

// What a record takes of private memory: the frame's HPA and the epoch.
constexpr std::size_t kAwaitingFlushBytes = 16;

}  // namespace

Result Psp::frame_available(std::uint64_t hpa) const {
  if (const auto it = awaiting_flush_.find(hpa); it != awaiting_flush_.end()) {
    const auto vm = vms_.find(it->second.vm);
    const bool flushed = vm == vms_.end() || vm->second->tlb->flushed_past(it->second.epoch);
    return flushed ? Result::success() : Result::failure(Status::tlb_not_tracked, hpa);
  }
  return frame_is_free(hpa) ? Result::success() : Result::failure(Status::frame_not_available, hpa);
}

void Psp::claim_frame(std::uint64_t hpa) {
  const auto it = awaiting_flush_.find(hpa);
  if (it == awaiting_flush_.end()) return;  // free host memory already
  if (Vm* vm = find(it->second.vm)) --vm->frames_awaiting_flush;
  awaiting_flush_.erase(it);
  scrub_frame(hpa);  // the old owner's plaintext never reaches the next one
}

bool Psp::charge_awaiting_flush(const Vm& vm, PrivateMemory::Allocation& out) {
  return memory_.try_allocate(vm.handle, kAwaitingFlushBytes, out);
}

void Psp::await_flush(Vm& vm, std::uint64_t hpa, PrivateMemory::Allocation charge) {
  const auto [it, fresh] = awaiting_flush_.insert_or_assign(
      hpa, AwaitingFlush{vm.handle, vm.tlb->epoch(), std::move(charge)});
  if (fresh) ++vm.frames_awaiting_flush;
}

Response Psp::handle(const TlbTrack& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::any);
  if (vm == nullptr) return {refusal, {}};
  // Any state: a stopped VM's frames must still be tracked before they change hands.
  vm->tlb->advance(hw::PspPasskey{});
  return {Result::success(), {}};
}

}  // namespace cvmsim::psp
