// What ties a vCPU to its VM: the key slot its private accesses use and the NPT root its
// walks start from. Only the PSP can issue one (at LAUNCH_FINISH), so the VMM cannot run
// guest code with another VM's key, nor point a guarded VM at tables the PSP does not
// check. The VMM holds it and passes it to GuestCpu.
#pragma once

#include <cstdint>

#include "hw/memory_controller.h"

namespace cvmsim::hw {

class VcpuBinding {
 public:
  // `key_asid`: the VM's key slot (0 when its memory is not encrypted).
  static VcpuBinding issue(PspPasskey passkey, std::uint32_t key_asid, std::uint64_t npt_root) {
    return VcpuBinding(Requester::keyed(passkey, Initiator::guest_cpu, key_asid), npt_root);
  }
  [[nodiscard]] std::uint32_t key_asid() const noexcept { return requester_.key_asid(); }
  [[nodiscard]] std::uint64_t npt_root() const noexcept { return npt_root_; }
  // How the vCPU's private accesses reach the memory controller.
  [[nodiscard]] Requester requester() const noexcept { return requester_; }

 private:
  VcpuBinding(Requester requester, std::uint64_t npt_root)
      : requester_(requester), npt_root_(npt_root) {}
  Requester requester_;
  std::uint64_t npt_root_;
};

}  // namespace cvmsim::hw
