#include "attest/report.h"

#include <fmt/format.h>

#include "attest/attest_error.h"
#include "common/binary.h"
#include "common/hex.h"
#include "crypto/suite.h"

namespace cvmsim::attest {
namespace {

constexpr std::string_view kMagic = "CVMSRPT1";
constexpr std::uint16_t kVersion = 3;
constexpr std::size_t kDigestField = 48;

template <typename Enum>
Enum checked_enum(ByteReader& r, std::string_view field, std::uint8_t max) {
  const std::size_t at = r.offset();
  const std::uint8_t v = r.u8(field);
  if (v > max) r.fail_at(field, at, fmt::format("value {} is out of range 0..{}", v, max));
  return static_cast<Enum>(v);
}

}  // namespace

std::string_view error_code_name(AttestErrc code) {
  switch (code) {
    case AttestErrc::bad_report:
      return "bad_report";
    case AttestErrc::bad_policy:
      return "bad_policy";
  }
  return "unknown";
}

std::string_view to_string(FirmwareCheck v) {
  switch (v) {
    case FirmwareCheck::not_checked:
      return "not_checked";
    case FirmwareCheck::matched:
      return "matched";
    case FirmwareCheck::mismatch:
      return "mismatch";
  }
  return "unknown";
}

std::string_view to_string(CertificateCheck v) {
  switch (v) {
    case CertificateCheck::none:
      return "none";
    case CertificateCheck::valid:
      return "valid";
    case CertificateCheck::refused:
      return "refused";
  }
  return "unknown";
}

std::string_view to_string(NptIntegrityState v) {
  switch (v) {
    case NptIntegrityState::intact:
      return "intact";
    case NptIntegrityState::tampered:
      return "tampered";
    case NptIntegrityState::not_guarded:
      return "not_guarded";
  }
  return "unknown";
}

std::string_view to_string(DiskIntegrity v) {
  switch (v) {
    case DiskIntegrity::none:
      return "none";
    case DiskIntegrity::authenticated:
      return "authenticated";
  }
  return "unknown";
}

std::string_view to_string(DramAliasCheck v) {
  switch (v) {
    case DramAliasCheck::not_run:
      return "not_run";
    case DramAliasCheck::passed:
      return "passed";
  }
  return "unknown";
}

Bytes Report::signed_body() const {
  // What decode() would refuse is never signed: without an authenticated image the disk
  // fields are zero, with one the root is a full root.
  const bool authenticated = disk_integrity == DiskIntegrity::authenticated;
  if (authenticated ? disk_root.size() != kDiskRootSize : !disk_root.empty() || disk_version != 0) {
    throw AttestError(
        AttestErrc::bad_report,
        fmt::format("disk integrity {} with a {}-byte disk root and version {}: only an "
                    "authenticated image has a root ({} bytes) and a version",
                    to_string(disk_integrity), disk_root.size(), disk_version, kDiskRootSize));
  }
  ByteWriter w;
  w.bytes(as_bytes(kMagic));
  w.u16(kVersion);
  w.u8(static_cast<std::uint8_t>(suite));
  w.u8(simulated ? 1 : 0);
  w.u32(psp_version);
  w.fixed(chip_id, kChipIdSize);
  w.fixed(disk_root, kDiskRootSize);
  w.u64(disk_version);
  w.u8(static_cast<std::uint8_t>(disk_integrity));
  w.zeros(7);
  w.u64(policy);
  w.fixed(launch_digest, kDigestField);
  w.u8(static_cast<std::uint8_t>(firmware_check));
  w.u8(static_cast<std::uint8_t>(certificate_check));
  w.u8(guard_mode);
  w.u8(static_cast<std::uint8_t>(npt_integrity));
  w.u32(asid);
  w.fixed(certificate_digest, kDigestField);
  w.fixed(provider_key_id, kDigestField);
  w.bytes(report_data);
  w.u8(static_cast<std::uint8_t>(dram_alias_check));
  w.zeros(15);
  return w.take();
}

Bytes Report::encode() const {
  ByteWriter w;
  w.bytes(signed_body());
  if (signature.empty() || signature.size() > kSignatureArea) {
    throw AttestError(AttestErrc::bad_report,
                      fmt::format("a signature of {} bytes does not fit the report's {}-byte "
                                  "signature area",
                                  signature.size(), kSignatureArea));
  }
  w.u16(static_cast<std::uint16_t>(signature.size()));
  w.bytes(signature);
  w.zeros(kSignatureArea - signature.size());
  return w.take();
}

Report Report::decode(ByteView data, std::string_view source) {
  if (data.size() > kMaxReportSize) {
    throw AttestError(AttestErrc::bad_report,
                      fmt::format("{}: {} bytes is larger than any report ({} at most)", source,
                                  data.size(), kMaxReportSize));
  }
  ByteReader r(data, std::string(source));
  const ByteView magic = r.bytes("magic", kMagic.size());
  if (!equal_constant_time(magic, as_bytes(kMagic))) {
    throw AttestError(AttestErrc::bad_report,
                      fmt::format("{}: not an attestation report (magic {}, expected "
                                  "\"CVMSRPT1\")",
                                  source, to_hex(magic)));
  }
  if (const std::uint16_t version = r.u16("version"); version != kVersion) {
    throw AttestError(
        AttestErrc::bad_report,
        fmt::format("{}: report version {} is not supported (expected {}){}", source, version,
                    kVersion,
                    version < kVersion ? ": a report of an earlier cvmsim release; ask the PSP "
                                         "for a new one"
                                       : ""));
  }
  Report rep;
  rep.suite = crypto::suite_from_byte(r.u8("suite"), source);
  const std::size_t flags_at = r.offset();
  const std::uint8_t flags = r.u8("flags");
  if ((flags & ~1u) != 0) r.fail_at("flags", flags_at, "unknown flag bits");
  rep.simulated = (flags & 1u) != 0;
  rep.psp_version = r.u32("psp_version");
  // A fixed-size field: a chip id may well end in a zero byte.
  rep.chip_id = to_bytes(r.bytes("chip_id", kChipIdSize));
  const std::size_t disk_root_at = r.offset();
  const ByteView disk_root = r.bytes("disk_root", kDiskRootSize);
  const std::size_t disk_version_at = r.offset();
  rep.disk_version = r.u64("disk_version");
  rep.disk_integrity = checked_enum<DiskIntegrity>(r, "disk_integrity", 1);
  if (rep.disk_integrity == DiskIntegrity::authenticated) {
    rep.disk_root = to_bytes(disk_root);
  } else if (!all_zero(disk_root)) {
    r.fail_at("disk_root", disk_root_at, "must be zero without an authenticated image");
  } else if (rep.disk_version != 0) {
    r.fail_at("disk_version", disk_version_at, "must be zero without an authenticated image");
  }
  r.expect_zero("reserved_after_disk_integrity", 7);
  rep.policy = r.u64("policy");
  const std::size_t d = crypto::suite(rep.suite).digest_size();
  rep.launch_digest = to_bytes(r.fixed("launch_digest", kDigestField, d));
  rep.firmware_check = checked_enum<FirmwareCheck>(r, "firmware_check", 2);
  rep.certificate_check = checked_enum<CertificateCheck>(r, "certificate_check", 2);
  rep.guard_mode = checked_enum<std::uint8_t>(r, "guard_mode", 2);
  rep.npt_integrity = checked_enum<NptIntegrityState>(r, "npt_integrity", 2);
  rep.asid = r.u32("asid");
  rep.certificate_digest = to_bytes(r.fixed("certificate_digest", kDigestField, d));
  rep.provider_key_id = to_bytes(r.fixed("provider_key_id", kDigestField, d));
  const ByteView data_field = r.bytes("report_data", kReportDataSize);
  std::copy(data_field.begin(), data_field.end(), rep.report_data.begin());
  rep.dram_alias_check = checked_enum<DramAliasCheck>(r, "dram_alias_check", 1);
  r.expect_zero("reserved", 15);
  const std::size_t length_at = r.offset();
  const std::uint16_t length = r.u16("signature_length");
  if (length == 0 || length > kSignatureArea) {
    r.fail_at("signature_length", length_at,
              fmt::format("is {}, must be 1..{}", length, kSignatureArea));
  }
  rep.signature = to_bytes(r.bytes("signature", length));
  r.expect_zero("signature_padding", kSignatureArea - length);
  r.expect_end();
  return rep;
}

bool Report::signature_valid(const crypto::Key& attestation_key) const {
  return attestation_key.suite() == suite &&
         crypto::suite(suite).verify(attestation_key, signed_body(), signature);
}

void sign_report(Report& report, const crypto::Key& attestation_key) {
  report.suite = attestation_key.suite();
  report.signature = crypto::suite(report.suite).sign(attestation_key, report.signed_body());
}

}  // namespace cvmsim::attest
