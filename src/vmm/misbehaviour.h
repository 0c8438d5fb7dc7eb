// The one seam through which attack scenarios make the hypervisor misbehave. The VMM is
// untrusted: whatever a real hypervisor could do, a Misbehaviour may do at these points
// with the host's powers (Platform: DRAM through the memory controller as the host, NPT
// frames in host memory, the disk's backing file, the PSP mailbox; Vmm: TLB flushes, the
// vCPU's registers, the interrupts it injects). It gets nothing the host does not have: no
// PspPasskey, no VM key.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/cpu/vm_exit.h"
#include "hw/disk/dma.h"
#include "psp/commands.h"

namespace cvmsim::vmm {

class Platform;
class Vmm;

class Misbehaviour {
 public:
  virtual ~Misbehaviour() = default;
  // Every VM exit, before the VMM handles it.
  virtual void on_exit(Platform&, Vmm&, psp::VmHandle, const hw::VmExit&) {}
  // A secure call the guest made: the VMM forwards the returned GPAs in order (default:
  // the guest's one). Empty drops the call; repeating a GPA replays it.
  virtual std::vector<std::uint64_t> on_secure_call(Platform&, Vmm&, psp::VmHandle,
                                                    std::uint64_t gpa) {
    return {gpa};
  }
  // A completion interrupt the disk controller raised for the VM's port: the VMM queues
  // this many copies of its vector for the VM (default one; 0 drops it). Forging one
  // needs no hook: Vmm::inject_interrupt.
  virtual unsigned on_disk_interrupt(Platform&, Vmm&, psp::VmHandle, const hw::DiskInterrupt&) {
    return 1;
  }
  // An NPT_MAP the VMM is about to send for a nested page fault (may be rewritten).
  virtual void on_npt_map(Platform&, Vmm&, psp::NptMap&) {}
};

}  // namespace cvmsim::vmm
