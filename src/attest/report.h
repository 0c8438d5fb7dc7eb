// The attestation report: what the PSP signs in answer to an ATTEST secure call.
// Fixed little-endian layout, version 3 (docs/formats.md "Attestation report"):
//
//   off  size  field
//   0    8     magic "CVMSRPT1"
//   8    2     version (3)
//   10   1     suite (1 sm, 2 nist)
//   11   1     flags: bit 0 = produced by the cvmsim simulator (always set here)
//   12   4     PSP firmware version (major << 16 | minor << 8 | patch)
//   16   16    chip id
//   32   32    disk root: the hash tree root over an authenticated image's sector tags,
//              zero when the VM has no authenticated image
//   64   8     disk version: the image's monotonic version (the PSP's NV storage), zero
//              when none
//   72   1     disk integrity: 0 no authenticated image, 1 authenticated image (the root
//              and version above are valid)
//   73   7     zero
//   80   8     policy
//   88   48    launch digest (d bytes, zero padded)
//   136  1     firmware check: 0 not checked, 1 matched the signed reference, 2 mismatch
//   137  1     image certificate check: 0 none submitted, 1 valid, 2 refused
//   138  1     NPT guard mode (0 off, 1 detect, 2 isolate)
//   139  1     NPT integrity state: 0 intact, 1 tampering detected, 2 not guarded
//   140  4     ASID
//   144  48    image certificate digest H(certificate bytes), zero when none
//   192  48    provider key id (from the verified reference), zero when none
//   240  64    report data (the tenant's nonce)
//   304  1     DRAM alias check at PSP boot: 0 not run, 1 passed (was zero before)
//   305  15    zero
//   320  2     signature length L (1..104)
//   322  104   signature over bytes [0, 320) with the chip's attestation key (DER, L
//              bytes), then zeros
//
// The signature area has one size whatever the DER encoding's length (70 to 72 bytes in
// sm, up to 104 in nist), so every report is 426 bytes: a guest that hands its report on
// does the same work on every run, and runs stay reproducible (docs/architecture.md,
// "Simulated time").
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"

namespace cvmsim::attest {

inline constexpr std::size_t kReportSignedSize = 320;
inline constexpr std::size_t kSignatureArea = 104;  // the longest DER signature (P-384)
inline constexpr std::size_t kReportSize = kReportSignedSize + 2 + kSignatureArea;
inline constexpr std::size_t kMaxReportSize = 1024;
inline constexpr std::size_t kChipIdSize = 16;
inline constexpr std::size_t kReportDataSize = 64;
inline constexpr std::size_t kDiskRootSize = 32;

enum class FirmwareCheck : std::uint8_t { not_checked = 0, matched = 1, mismatch = 2 };
enum class CertificateCheck : std::uint8_t { none = 0, valid = 1, refused = 2 };
enum class NptIntegrityState : std::uint8_t { intact = 0, tampered = 1, not_guarded = 2 };
// The PSP's boot-time DRAM alias probe (BadRAM). A platform where it found an alias never
// starts, so no report says "failed".
enum class DramAliasCheck : std::uint8_t { not_run = 0, passed = 1 };
// Whether the VM runs from an authenticated disk image (sector tags under a hash tree whose
// root and version the PSP keeps in its NV storage, so a rolled-back disk is refused).
enum class DiskIntegrity : std::uint8_t { none = 0, authenticated = 1 };

struct Report {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  bool simulated = true;
  std::uint32_t psp_version = 0;
  Bytes chip_id;  // kChipIdSize bytes
  // With DiskIntegrity::none the root is empty and the version 0 (encoded as zeros); with
  // authenticated, the root has kDiskRootSize bytes. Anything else does not encode.
  Bytes disk_root;
  std::uint64_t disk_version = 0;
  DiskIntegrity disk_integrity = DiskIntegrity::none;
  std::uint64_t policy = 0;
  Bytes launch_digest;
  FirmwareCheck firmware_check = FirmwareCheck::not_checked;
  CertificateCheck certificate_check = CertificateCheck::none;
  std::uint8_t guard_mode = 0;
  NptIntegrityState npt_integrity = NptIntegrityState::not_guarded;
  std::uint32_t asid = 0;
  Bytes certificate_digest;  // empty or digest_size bytes
  Bytes provider_key_id;     // empty or digest_size bytes
  std::array<std::uint8_t, kReportDataSize> report_data{};
  DramAliasCheck dram_alias_check = DramAliasCheck::not_run;
  Bytes signature;

  [[nodiscard]] Bytes signed_body() const;
  [[nodiscard]] Bytes encode() const;
  // Structural checks only; names `source` and the field on failure. Only version 3: a
  // report of an earlier version is refused, as version 2 refused those of version 1.
  static Report decode(ByteView data, std::string_view source);
  // True when `attestation_key` (public) signed this report.
  [[nodiscard]] bool signature_valid(const crypto::Key& attestation_key) const;
};

// Signs `report` in place with the chip's attestation key (PSP side).
void sign_report(Report& report, const crypto::Key& attestation_key);

std::string_view to_string(FirmwareCheck v);
std::string_view to_string(CertificateCheck v);
std::string_view to_string(NptIntegrityState v);
std::string_view to_string(DramAliasCheck v);
std::string_view to_string(DiskIntegrity v);

}  // namespace cvmsim::attest
