// The PSP firmware (trusted). The host reaches it only through HostInterface (the mailbox,
// two status reads and the platform timer); it alone holds the privileged hardware ports
// (PspPasskey) and the chip's keys.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "attest/report.h"
#include "hw/cpu/vcpu_binding.h"
#include "hw/disk/disk_controller.h"
#include "hw/memory_controller.h"
#include "hw/npt/walker.h"
#include "image/image_cert.h"
#include "measure/launch_digest.h"
#include "measure/launch_plan.h"
#include "measure/policy.h"
#include "psp/chip_fuses.h"
#include "psp/commands.h"
#include "psp/host_interface.h"
#include "psp/npt_guard/check_timer.h"
#include "psp/npt_guard/table_guard.h"
#include "psp/nv_storage.h"
#include "psp/private_memory.h"
#include "psp/secure_call.h"
#include "psp/status.h"
#include "psp/vm_state.h"
#include "trace/trace.h"

namespace cvmsim::psp {

inline constexpr std::uint32_t kDefaultMaxAsids = 64;
inline constexpr std::uint64_t kMaxPagesPerMap = 1ull << 18;  // 1 GiB per NPT_MAP

struct PspConfig {
  std::size_t private_memory_budget = kDefaultPrivateMemoryBudget;
  std::uint32_t max_asids = kDefaultMaxAsids;
  // The boot-time DRAM alias probe (psp_dram_alias_check.cc). Off only to show what a
  // platform without the check lets a host do (the dram-alias attack scenario).
  bool dram_alias_check = true;
};

class Psp final : public HostInterface {
 public:
  Psp(hw::MemoryController& mc, hw::DiskController& disks, ChipFuses fuses, PspConfig config = {});
  Psp(const Psp&) = delete;
  Psp& operator=(const Psp&) = delete;
  ~Psp() override;

  // --- HostInterface: all the untrusted host reaches (psp/host_interface.h) ---------
  Response execute(const Command& command) override;
  [[nodiscard]] std::optional<VmInfo> vm_info(VmHandle vm) const override;
  [[nodiscard]] std::optional<hw::VcpuBinding> vcpu_binding(VmHandle vm) const override;
  void set_periodic_check(const PeriodicCheckConfig& config) override;
  std::vector<VmHandle> advance_clock(std::uint64_t now_us) override;
  [[nodiscard]] std::optional<std::uint64_t> next_check_us() const override {
    return timer_.next_deadline();
  }

  // --- The rest: the platform's own reports, benchmarks and tests --------------------

  // The periodic NPT check (PSP timer): verifies every guarded VM's whole table and stops
  // the VMs whose table changed. Returns the handles of the VMs it stopped.
  std::vector<VmHandle> periodic_check();
  [[nodiscard]] const CheckTimer& check_timer() const noexcept { return timer_; }
  // The stored NPT digest and one recomputed from the table pages alone (for tests and
  // diagnostics: they differ exactly when the tables changed behind the PSP's back).
  [[nodiscard]] std::optional<std::pair<Bytes, Bytes>> npt_digest_check(VmHandle vm);
  // The stored NPT digest alone, brought up to date over every leaf written (the work a
  // guarded VM's NPT_MAPs left for later; see TableGuard::settle).
  [[nodiscard]] std::optional<Bytes> npt_digest(VmHandle vm);

  [[nodiscard]] crypto::SuiteId suite() const noexcept { return suite_; }
  [[nodiscard]] const PrivateMemory& private_memory() const noexcept { return memory_; }
  [[nodiscard]] std::uint64_t commands_executed() const noexcept { return commands_; }
  // What the boot-time checks found: success, or the refusal every command now gets
  // (dram_aliased). Set once, in the constructor.
  [[nodiscard]] const Result& boot_result() const noexcept { return boot_result_; }
  [[nodiscard]] attest::DramAliasCheck dram_alias_check() const noexcept {
    return dram_alias_check_;
  }
  // Records commands, secure calls, stops and checks in the event trace (null: off).
  void set_trace(trace::Recorder* recorder) { trace_ = recorder; }

 private:
  struct Vm;

  // One handler per command: std::visit fails to compile if a command has none.
  Response handle(const PlatformStatus&);
  Response handle(const LaunchStart&);
  Response handle(const LaunchUpdate&);
  Response handle(const LaunchVerify&);
  Response handle(const LaunchFinish&);
  Response handle(const NptDonate&);
  Response handle(const NptMap&);
  Response handle(const NptUnmap&);
  Response handle(const VmStop&);
  Response handle(const Decommission&);
  Response handle(const DiskAttach&);
  Response handle(const SecureCall&);
  Response handle(const TlbTrack&);

  // The PSP's own accesses: not subject to guards, optionally through a VM's key slot.
  static hw::Requester as_psp(std::uint32_t key_asid = 0) {
    return hw::Requester::psp(hw::PspPasskey{}, key_asid);
  }
  Vm* find(VmHandle vm);
  // The VM a command names when its state allows the command's class; otherwise no VM
  // and the refusal: invalid_vm (detail: the handle), vm_stopped (the stop reason) or
  // invalid_state (the state), as refused_as_stopped() decides.
  struct VmLookup {
    Vm* vm = nullptr;
    Result refusal = Result::success();
  };
  VmLookup find_vm(VmHandle handle, CommandClass what);
  [[nodiscard]] bool frame_is_free(std::uint64_t hpa) const;
  // TLB tracking (psp_tlb.cc). Whether a frame may be given to a VM, an NPT or the PSP:
  // free host memory, or a frame NPT_UNMAP took whose VM's vCPUs have all flushed since
  // (tlb_not_tracked while they have not; frame_not_available for anything else).
  [[nodiscard]] Result frame_available(std::uint64_t hpa) const;
  // After the command's checks passed: a frame frame_available() accepted becomes scrubbed
  // host memory, ready for the command to tag.
  void claim_frame(std::uint64_t hpa);
  // NPT_UNMAP: the frame stays the VM's until its vCPUs have flushed past the VM's current
  // epoch. `charge` is the private memory the record takes (charge_awaiting_flush).
  void await_flush(Vm& vm, std::uint64_t hpa, PrivateMemory::Allocation charge);
  [[nodiscard]] bool charge_awaiting_flush(const Vm& vm, PrivateMemory::Allocation& out);
  // NPT_UNMAP: whether the frame of this (present) leaf entry awaits a flush once unmapped.
  [[nodiscard]] bool awaits_flush(const Vm& vm, std::uint64_t entry) const;
  void scrub_frame(std::uint64_t hpa);
  std::uint64_t take_table_frame(Vm& vm);
  std::optional<std::uint64_t> take_merkle_frame(Vm& vm);
  void wire_guard(Vm& vm);
  // Table pages the walk for `gpa` passes through (existing ones only).
  std::vector<std::uint64_t> path_tables(const Vm& vm, std::uint64_t gpa);
  // The 32-byte entry chunks the walks of [gpa, gpa + pages) read or write in the tables
  // that exist now; nullopt when a walk leaves host memory (a tampered pointer).
  std::optional<std::vector<std::uint64_t>> range_chunks(const Vm& vm, std::uint64_t gpa,
                                                         std::uint64_t pages);
  // The check before an update; marks the VM tampered when it fails.
  [[nodiscard]] bool guard_check(Vm& vm, std::uint64_t gpa, std::uint64_t pages);
  // The checks NPT_MAP and NPT_UNMAP share: the VM exists, may map, and is guarded.
  VmLookup find_guarded_vm(VmHandle handle);
  std::uint64_t missing_tables(const Vm& vm, std::uint64_t gpa, std::uint64_t pages);
  // What mapping one page at `gpa` needs, checked before anything changes: the walk's
  // chunks match the stored value (guarded modes) and the table pool holds every missing
  // table (LAUNCH_UPDATE).
  [[nodiscard]] Result check_install(Vm& vm, std::uint64_t gpa);
  // Writes the entry, creating tables; the caller checked the walk.
  void write_mapping(Vm& vm, std::uint64_t gpa, std::uint64_t entry);
  void stop(Vm& vm, StopReason reason);
  // The boot-time DRAM alias probe (psp_dram_alias_check.cc): success, or dram_aliased
  // with the alias address as detail.
  [[nodiscard]] Result probe_dram_aliases();

  // The event trace (psp_trace.cc); each does nothing while tracing is off.
  // A command is recorded as it arrives (what it causes follows it) and gets its status
  // when it completes.
  std::optional<std::uint64_t> trace_command(const Command& command);
  void trace_status(std::optional<std::uint64_t> seq, const Response& response);
  void trace_secure_call(const Vm& vm, std::string_view call, const Result& result,
                         nlohmann::json args);
  void trace_stop(const Vm& vm);
  void trace_periodic_check(std::uint64_t ticks, std::size_t vms_checked,
                            const std::vector<VmHandle>& stopped);

  // Secure-call services (psp_secure_call.cc, psp_image.cc).
  // The host frame behind guest page `gpa` after checking the walk's tables (guarded
  // modes), that the page is private and that the frame belongs to this VM.
  // `tables_checked`: the caller has already checked the walk's table chunks (a whole
  // range at once, see check_guest_range).
  Result guest_frame(Vm& vm, std::uint64_t gpa, bool for_write, std::uint64_t& hpa,
                     bool tables_checked = false);
  // guest_frame() for every page of a DMA buffer, in order, after check_guest_pages():
  // the same checks and results, with one leaf-table read per 2 MiB of guest memory
  // instead of a four-level walk per page.
  Result guest_frames(Vm& vm, const std::vector<std::uint64_t>& page_gpas, bool for_write,
                      std::vector<std::uint64_t>& hpas);
  // What guest_frame() and guest_frames() check once a page is translated.
  Result accept_frame(const Vm& vm, const hw::npt::WalkResult& walk, std::uint64_t& hpa) const;
  // Guarded modes: checks the table chunks the walks of every listed page read, one
  // guard check per run of consecutive pages.
  Result check_guest_pages(Vm& vm, const std::vector<std::uint64_t>& page_gpas);
  Result read_guest(Vm& vm, std::uint64_t gpa, MutableByteView out);
  // The secure-call services, one overload per call type (dispatched by type).
  Result serve(Vm& vm, const ImageCertCall& call, SecureCallResponse& out);
  Result serve(Vm& vm, const DiskIoCall& call, SecureCallResponse& out);
  Result serve(Vm& vm, const AttestCall& call, SecureCallResponse& out);
  Result image_cert(Vm& vm, const ImageCertCall& call, SecureCallResponse& out);
  // `tag`: the DMA tag of the transfer or flush the controller ran (0: none ran).
  Result disk_io(Vm& vm, const DiskIoCall& call, std::uint64_t& tag);
  // Authenticated images (psp_image.cc): the boot's root check against the NV storage
  // (settling a write a crash cut short), and the two-step write.
  Result check_disk_root(Vm& vm, const image::SectorIntegrity& certified, std::uint32_t slot);
  Result authenticated_write(Vm& vm, const hw::DmaDescriptor& dma, std::uint64_t& tag);
  Result attest(Vm& vm, const AttestCall& call, SecureCallResponse& out);
  void release_disk(Vm& vm);

  hw::MemoryController& mc_;
  hw::DiskController& disks_;
  ChipFuses fuses_;
  NvStorage nv_;  // per authenticated image: its tags' root and version
  crypto::SuiteId suite_;
  PspConfig config_;
  PrivateMemory memory_;
  std::map<VmHandle, std::unique_ptr<Vm>> vms_;
  // Frames NPT_UNMAP took, by HPA, until their VM's vCPUs have flushed past `epoch`.
  struct AwaitingFlush {
    VmHandle vm = 0;
    std::uint64_t epoch = 0;
    PrivateMemory::Allocation charge;
  };
  std::map<std::uint64_t, AwaitingFlush> awaiting_flush_;
  std::vector<bool> asid_in_use_;
  std::uint64_t dma_tags_ = 0;
  VmHandle next_handle_ = 1;
  std::uint64_t commands_ = 0;
  CheckTimer timer_;
  std::uint64_t check_pages_per_tick_ = 0;
  trace::Recorder* trace_ = nullptr;
  Result boot_result_;
  attest::DramAliasCheck dram_alias_check_ = attest::DramAliasCheck::not_run;
};

}  // namespace cvmsim::psp
