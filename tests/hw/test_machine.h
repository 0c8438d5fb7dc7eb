// A minimal machine for guest-CPU tests: host memory, a memory controller with one VM key,
// an NPT and a vCPU, plus a test-only fault handler that maps zeroed frames on demand.
// The real VMM and PSP (src/vmm, src/psp) do this properly; here the test stands in.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
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

// How the test's stand-in VMM backs guest pages: frames one after another (the guest CPU
// maps direct and MMIO regions), or as huge pages do, page o of a 2 MiB GPA block on frame
// o of an aligned 2 MiB host run (the guest CPU maps one window per block).
enum class Backing : std::uint8_t { bump, huge_pages };

class TestMachine {
 public:
  explicit TestMachine(crypto::SuiteId suite = crypto::SuiteId::sm, CpuOptions options = {},
                       Backing backing = Backing::bump);

  // A fresh zeroed frame from the bump allocator (never reused).
  std::uint64_t new_frame();
  // A fresh zeroed frame to back guest page `gpa`: with Backing::huge_pages the one at the
  // page's offset in a host run reserved for its block (a GPA gets that frame only once;
  // later calls for it give bump frames).
  std::uint64_t frame_for(std::uint64_t gpa);
  // Maps GPA page -> a frame for the VM, owned by `asid` (0: a plain host frame).
  void map(std::uint64_t gpa, std::uint64_t hpa,
           std::uint64_t flags = npt::kPresent | npt::kWritable | npt::kExecutable);
  void own(std::uint64_t hpa, std::uint32_t asid);
  // Copies `image` into fresh VM frames mapped from `gpa`, as LAUNCH_UPDATE would.
  void load(std::uint64_t gpa, ByteView image);
  void load_file(std::uint64_t gpa, const std::string& guest_program);
  // The GPA's current translation (or 0).
  std::uint64_t hpa_of(std::uint64_t gpa);

  // Runs until the guest halts, faults or reaches a limit; maps pages on nested page
  // faults when `map_on_fault`, collects console output. The default limits bound a test
  // that goes wrong: 20 s of wall clock, the host's safety net.
  RunOutcome run(bool map_on_fault = true, RunLimits limits = {});

  HostMemory memory{4ull << 30};
  MemoryController mc;
  std::uint64_t npt_root = 0;
  npt::Editor editor;
  std::unique_ptr<GuestCpu> cpu;

 private:
  Backing backing_;
  std::uint64_t next_frame_ = 0x40000000;        // frames from 1 GiB up
  std::uint64_t next_run_ = 0x80000000;          // huge-page runs from 2 GiB up
  std::map<std::uint64_t, std::uint64_t> runs_;  // GPA block -> host run
  std::set<std::uint64_t> backed_;               // GPA pages given their run's frame
};

Bytes read_guest_program(const std::string& name);

}  // namespace cvmsim::hw::testing
