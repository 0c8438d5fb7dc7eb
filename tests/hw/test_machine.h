// A minimal machine for guest-CPU tests: host memory, a memory controller with one VM key,
// an NPT and a vCPU, plus a test-only fault handler that maps zeroed frames on demand.
// The real VMM and PSP (src/vmm, src/psp) do this properly; here the test stands in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hw/guest_cpu.h"
#include "hw/npt.h"
#include "hw_test_access.h"

namespace cvmsim::hw::testing {

inline constexpr std::uint64_t kLoadGpa = 0x100000;
inline constexpr std::uint32_t kAsid = 1;

struct RunOutcome {
  std::string console;
  std::optional<std::uint32_t> exit_status;
  VmExit last;  // the exit that ended the run
  std::uint64_t nested_page_faults = 0;
};

class TestMachine {
 public:
  explicit TestMachine(crypto::SuiteId suite = crypto::SuiteId::sm, CpuOptions options = {});

  // A fresh zeroed frame from the bump allocator (never reused).
  std::uint64_t new_frame();
  // Maps GPA page -> a frame for the VM, owned by `asid` (0: a plain host frame).
  void map(std::uint64_t gpa, std::uint64_t hpa,
           std::uint64_t flags = npt::kPresent | npt::kWritable | npt::kExecutable);
  void own(std::uint64_t hpa, std::uint32_t asid);
  // Copies `image` into fresh VM frames mapped from `gpa`, as LAUNCH_UPDATE would.
  void load(std::uint64_t gpa, ByteView image);
  void load_file(std::uint64_t gpa, const std::string& guest_program);
  // The GPA's current translation (or 0).
  std::uint64_t hpa_of(std::uint64_t gpa);

  // Runs until the guest halts, faults or ends its slice; maps pages on nested page faults
  // when `map_on_fault`, collects console output.
  RunOutcome run(bool map_on_fault = true,
                 std::chrono::milliseconds limit = std::chrono::seconds(20));

  HostMemory memory{4ull << 30};
  MemoryController mc;
  std::uint64_t npt_root = 0;
  npt::Editor editor;
  std::unique_ptr<GuestCpu> cpu;

 private:
  std::uint64_t next_frame_ = 0x40000000;  // frames from 1 GiB up
};

Bytes read_guest_program(const std::string& name);

}  // namespace cvmsim::hw::testing
