// What ties a vCPU to its VM: the key slot its private accesses use, the NPT root its
// walks start from and the VM's TLB tracker, where the vCPU records its flushes. Only the
// PSP can issue one (at LAUNCH_FINISH), so the VMM cannot run guest code with another VM's
// key, nor point a guarded VM at tables the PSP does not check, nor run a vCPU whose
// cached translations the PSP does not count. The VMM holds it and passes it to GuestCpu.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "hw/cpu/tlb_tracker.h"
#include "hw/memory_controller.h"

namespace cvmsim::hw {

class VcpuBinding {
 public:
  // `key_asid`: the VM's key slot (0 when its memory is not encrypted). `tracker`: the
  // VM's TLB tracker (null: a tracker of this vCPU's own, which nothing else reads).
  static VcpuBinding issue(PspPasskey passkey, std::uint32_t key_asid, std::uint64_t npt_root,
                           std::shared_ptr<TlbTracker> tracker = nullptr) {
    if (!tracker) tracker = std::make_shared<TlbTracker>(passkey);
    return VcpuBinding(Requester::keyed(passkey, Initiator::guest_cpu, key_asid), npt_root,
                       std::move(tracker));
  }
  [[nodiscard]] std::uint32_t key_asid() const noexcept { return requester_.key_asid(); }
  [[nodiscard]] std::uint64_t npt_root() const noexcept { return npt_root_; }
  // How the vCPU's private accesses reach the memory controller.
  [[nodiscard]] Requester requester() const noexcept { return requester_; }
  [[nodiscard]] const std::shared_ptr<TlbTracker>& tlb_tracker() const noexcept { return tracker_; }

 private:
  VcpuBinding(Requester requester, std::uint64_t npt_root, std::shared_ptr<TlbTracker> tracker)
      : requester_(requester), npt_root_(npt_root), tracker_(std::move(tracker)) {}
  Requester requester_;
  std::uint64_t npt_root_;
  std::shared_ptr<TlbTracker> tracker_;
};

}  // namespace cvmsim::hw
