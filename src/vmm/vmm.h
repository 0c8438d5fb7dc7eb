// The hypervisor (untrusted): launches VMs through the PSP, runs their vCPUs, serves
// nested page faults by asking the PSP to map frames (or, with the guard off, by editing
// the tables itself), forwards secure calls, and prints the console.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "hw/guest_cpu.h"
#include "measure/policy.h"
#include "vmm/platform.h"

namespace cvmsim::vmm {

struct LaunchRequest {
  Bytes firmware;
  Bytes reference;     // CVMSREF1
  Bytes provider_key;  // the provider's public key (PEM or DER) for LAUNCH_VERIFY
  measure::Policy policy;
  std::uint64_t memory_size = 256ull << 20;  // guest-physical bytes the VM may touch
};

enum class VmFate { exited, halted, guest_fault, stopped_by_psp, time_limit };
std::string_view to_string(VmFate fate);

struct VmStats {
  std::uint64_t exits = 0;
  std::uint64_t nested_page_faults = 0;
  std::uint64_t pages_mapped = 0;
  std::uint64_t psp_commands = 0;
  std::uint64_t secure_calls = 0;
};

struct RunResult {
  VmFate fate = VmFate::halted;
  std::optional<std::uint32_t> exit_status;
  std::string console;
  std::string detail;
  VmStats stats;
};

class Vmm {
 public:
  explicit Vmm(Platform& platform);
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;
  ~Vmm();

  // LAUNCH_START .. LAUNCH_FINISH; throws VmmError{launch_refused} naming the PSP status.
  psp::VmHandle launch(const LaunchRequest& request);
  // Runs the VM until it exits, halts, faults or is stopped.
  RunResult run(psp::VmHandle vm, std::chrono::milliseconds limit = std::chrono::seconds(60));
  void decommission(psp::VmHandle vm);

  // How often (in VM exits) the VMM lets the PSP timer fire the periodic NPT check.
  void set_check_interval(std::uint64_t exits) { check_interval_ = exits; }

 private:
  struct GuestVm;
  psp::Response call(GuestVm& vm, const psp::Command& command);
  void expect(GuestVm& vm, const psp::Command& command);
  void donate_tables(GuestVm& vm, std::size_t frames);
  std::uint64_t take_frames(std::uint64_t count);
  bool handle_npf(GuestVm& vm, const hw::npt::Fault& fault, std::string& why);
  bool map_unguarded(GuestVm& vm, std::uint64_t gpa);

  Platform& platform_;
  std::map<psp::VmHandle, std::unique_ptr<GuestVm>> vms_;
  std::uint64_t check_interval_ = 1000;
};

}  // namespace cvmsim::vmm
