// The fixed costs that make up simulated time (docs/architecture.md, "Simulated time").
//
// The platform's clock advances only by these: the guest code a vCPU executed, counted in
// bytes of executed translation blocks, and a fixed cost per VM exit by kind. Both depend
// only on what the guest and the VMM do, so the same inputs give the same clock, the same
// PSP timer ticks and the same event trace on any host under any load. The figures are
// round numbers for an SEV-class server; what matters is that they are fixed.
#pragma once

#include <cstdint>

#include "hw/cpu/vm_exit.h"

namespace cvmsim::vmm {

// Guest code: 4 bytes of executed translation blocks per simulated nanosecond, about one
// x86-64 instruction (4 bytes on average) per nanosecond.
inline constexpr std::uint64_t kCodeBytesPerSimNs = 4;

// VM exits, simulated nanoseconds each: world switch plus the VMM's handling.
inline constexpr std::uint64_t kNestedPageFaultSimNs = 20'000;  // exit, NPT_MAP, resume
inline constexpr std::uint64_t kIoExitSimNs = 2'000;            // IN / OUT (and secure calls)
inline constexpr std::uint64_t kOtherExitSimNs = 1'000;         // halt, fault, timer, limits

// The longest a vCPU runs per entry before the VMM gets the CPU back (a scheduler tick).
// Entries also end at the PSP timer's next tick, as its interrupt would end them.
inline constexpr std::uint64_t kSliceSimNs = 10'000'000;  // 10 ms

// The default bound on a run's simulated time (cvmsim run --max-sim-time): a guest that
// never ends is stopped here, deterministically.
inline constexpr std::uint64_t kDefaultMaxSimNs = 10'000'000'000;  // 10 s

constexpr std::uint64_t exit_cost_ns(hw::VmExit::Kind kind) {
  switch (kind) {
    case hw::VmExit::Kind::nested_page_fault:
      return kNestedPageFaultSimNs;
    case hw::VmExit::Kind::io_out:
    case hw::VmExit::Kind::io_in:
      return kIoExitSimNs;
    case hw::VmExit::Kind::host_timeout:
      return 0;  // the host's safety net is not part of the simulated machine
    case hw::VmExit::Kind::halt:
    case hw::VmExit::Kind::guest_fault:
    case hw::VmExit::Kind::preempted:
    case hw::VmExit::Kind::instruction_limit:
      return kOtherExitSimNs;
  }
  return kOtherExitSimNs;
}

}  // namespace cvmsim::vmm
