// What GuestCpu::run() returns: why the guest stopped running (docs/architecture.md,
// "Guest memory path"; ports in docs/formats.md, "Guest ABI").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "abi/cvm_abi.h"
#include "hw/npt/walker.h"

namespace cvmsim::hw {

// The guest ABI's I/O ports (src/abi/cvm_abi.h, shared with the guest SDK).
inline constexpr std::uint16_t kConsolePort = CVM_CONSOLE_PORT;
inline constexpr std::uint16_t kSecureCallPort = CVM_SECURE_CALL_PORT;
inline constexpr std::uint16_t kExitPort = CVM_EXIT_PORT;
// IN: the vector of the oldest pending interrupt, which it acknowledges (0: none). The
// guest waits for an interrupt with HLT; the VMM resumes a halted vCPU that has one.
inline constexpr std::uint16_t kInterruptPort = CVM_INTERRUPT_PORT;
// The untrusted host channel: IN al reads the next byte the host offers (the tenant's
// nonce, for example; all ones when there is none), OUT al appends a byte for the host
// (a signed report, for example).
inline constexpr std::uint16_t kHostDataPort = CVM_HOST_DATA_PORT;
inline constexpr std::uint8_t kDiskInterruptVector = CVM_DISK_VECTOR;

struct VmExit {
  enum class Kind : std::uint8_t {
    halt,               // HLT executed; run() continues after it
    io_out,             // OUT port, value: the instruction has completed
    io_in,              // IN port: the VMM calls GuestCpu::complete_io_in(value) first
    nested_page_fault,  // `fault`: the access is retried when run() is called again
    guest_fault,        // an exception or an access the hardware refuses; not resumable
    preempted,          // run()'s simulated-time budget (code bytes) is spent; resumable
    host_timeout,       // the host's wall-clock safety net fired; resumable
    instruction_limit,  // run()'s instruction budget ended (needs counting); resumable
  };
  Kind kind = Kind::halt;
  std::uint16_t port = 0;   // io_out, io_in
  std::uint8_t size = 0;    // io_out, io_in: 1, 2 or 4 bytes
  std::uint32_t value = 0;  // io_out
  npt::Fault fault;         // nested_page_fault
  int vector = -1;          // guest_fault: the x86 exception vector when there is one
  std::uint64_t rip = 0;    // where the guest was (for io and faults: the instruction's block)
  std::string detail;       // guest_fault, limits: what happened, for logs

  static VmExit of(Kind kind, std::string detail = {}, std::uint64_t rip = 0) {
    VmExit e;
    e.kind = kind;
    e.detail = std::move(detail);
    e.rip = rip;
    return e;
  }
};

std::string_view to_string(VmExit::Kind kind);

}  // namespace cvmsim::hw
