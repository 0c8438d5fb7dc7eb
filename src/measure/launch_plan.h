// How a firmware image becomes the VM's initial memory and vCPU state: the list of pages
// that LAUNCH_UPDATE receives, in order. The provider's `cvmsim measure` and the PSP both
// walk this plan, so the measurement and the executed firmware are the same bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "abi/cvm_abi.h"
#include "common/bytes.h"
#include "crypto/suite_id.h"
#include "measure/launch_digest.h"

namespace cvmsim::measure {

// Where the firmware goes in guest-physical memory and how the boot vCPU starts (the guest
// ABI in docs/formats.md). The firmware is loaded at `load_gpa` and entered at its first
// byte in 64-bit mode with the stack pointer at `stack_top`.
// The defaults are the ABI's (src/abi/cvm_abi.h), which the guest's linker script follows.
struct GuestLayout {
  std::uint64_t load_gpa = CVM_FIRMWARE_GPA;   // 1 MiB
  std::uint64_t stack_top = CVM_FIRMWARE_GPA;  // the stack grows down below the firmware
  std::uint64_t max_firmware_size = 16ull << 20;
};

// The boot vCPU's initial state, measured as a page of type vcpu_state:
//   "CVMSVCPU" | u32 version=1 | u32 0 | u64 rip | u64 rsp | u64 rflags | zeros to 4096
struct VcpuState {
  std::uint64_t rip = 0;
  std::uint64_t rsp = 0;
  std::uint64_t rflags = 0x2;  // bit 1 is reserved and always set on x86
  [[nodiscard]] Bytes encode_page() const;
};

struct LaunchPage {
  std::uint64_t gpa = 0;
  PageType type = PageType::firmware;
  Bytes contents;  // kPageSize bytes (empty for zero pages)
};

struct LaunchPlan {
  std::vector<LaunchPage> pages;  // in LAUNCH_UPDATE order
  VcpuState vcpu;
  std::uint64_t firmware_size = 0;  // bytes before padding
};

// Splits `firmware` into 4 KiB pages (the last zero-padded) at consecutive GPAs from
// layout.load_gpa, followed by the vcpu_state page. Throws MeasureError{bad_firmware} for an
// empty or oversized image, naming `source`.
LaunchPlan plan_firmware_launch(ByteView firmware, const GuestLayout& layout,
                                std::string_view source);

// The digest of a plan, as the PSP computes it during LAUNCH_UPDATE.
Bytes measure_plan(const LaunchPlan& plan, crypto::SuiteId suite);

// The GPA under which the vcpu_state page is recorded (it is not guest-visible memory).
inline constexpr std::uint64_t kVcpuStateGpa = 0;

}  // namespace cvmsim::measure
