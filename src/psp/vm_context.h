// The PSP's per-VM context (internal to the PSP).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "attest/report.h"
#include "hw/cpu/tlb_tracker.h"
#include "measure/launch_digest.h"
#include "measure/launch_plan.h"
#include "psp/npt_guard/table_guard.h"
#include "psp/psp.h"

namespace cvmsim::psp {

// Bytes of PSP-private memory a VM context takes besides its NPT guard value: state,
// policy, handles, launch digest, provider key id, vCPU state (the VEK lives in the
// memory controller's key slot, not here).
// 384 for launch and NPT state, 128 for the image service (disk port, keyslot, certified
// geometry, certificate digest, secure-call sequence number).
inline constexpr std::size_t kVmContextBytes = 512;

// What IMAGE_CERT established for a VM's disk.
struct ImageState {
  attest::CertificateCheck check = attest::CertificateCheck::none;
  Bytes certificate_digest;  // H(certificate bytes) of the accepted (or first refused) one
  std::optional<std::uint32_t> keyslot;  // disk-controller keyslot holding the image key
  // Bytes: raw reads stay below it (the header area). The rest of the certified geometry
  // lives in the keyslot, where the controller checks transfers against it.
  std::uint64_t data_offset = 0;
  // Authenticated images (`pack --integrity`): the root of the hash tree over the sector
  // tags and its version, as they stand now (the PSP's NV storage holds the same pair).
  // Empty root and version 0 for an image without tags.
  Bytes disk_root;
  std::uint64_t disk_version = 0;
  std::array<std::uint8_t, 16> image_uuid{};  // the NV storage's key for the image
};

struct Psp::Vm {
  Vm(VmHandle h, std::uint32_t a, const measure::Policy& p, crypto::SuiteId suite)
      : handle(h), asid(a), policy(p), digest(suite) {}

  VmHandle handle;
  std::uint32_t asid;
  measure::Policy policy;
  VmState state = VmState::launching;
  StopReason stop_reason = StopReason::none;
  std::uint64_t npt_root = 0;
  std::vector<std::uint64_t> table_pool;  // donated frames, zeroed, not yet tables
  std::unique_ptr<TableGuard> guard;      // null when the guard mode is off
  bool tampered = false;
  measure::LaunchDigest digest;
  attest::FirmwareCheck firmware_check = attest::FirmwareCheck::not_checked;
  Bytes provider_key_id;
  measure::VcpuState vcpu;
  std::optional<std::uint32_t> disk_port;  // DISK_ATTACH
  ImageState image;
  std::uint64_t last_sequence = 0;  // of the last accepted secure call
  // The VM's TLB epoch and its vCPUs' flushes (hardware state: the vCPUs record into it).
  std::shared_ptr<hw::TlbTracker> tlb;
  std::size_t frames_awaiting_flush = 0;  // its entries in Psp::awaiting_flush_
  PrivateMemory::Allocation footprint;

  [[nodiscard]] std::uint32_t key_asid() const { return policy.memory_encryption ? asid : 0; }
  [[nodiscard]] bool guarded() const { return policy.guard != measure::GuardMode::off; }
};

}  // namespace cvmsim::psp
