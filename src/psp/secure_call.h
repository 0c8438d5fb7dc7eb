// The secure-call wire format: the request page a guest writes into its private memory
// before `out` to the secure-call port, and the response the PSP writes back into the same
// page (docs/formats.md, "Secure calls"). Every request is parsed into a validated struct
// before the PSP acts on it (Firecracker's habit): sizes, counts and alignment are checked
// here, addresses against the VM's tables by the handler.
#pragma once

#include <array>
#include <cstdint>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "psp/status.h"

namespace cvmsim::psp {

inline constexpr std::uint32_t kSecureCallMagic = 0x43535643;  // "CVSC"
inline constexpr std::uint16_t kSecureCallVersion = 1;
inline constexpr std::size_t kSecureCallPageSize = 4096;
inline constexpr std::size_t kSecureCallHeaderSize = 32;
inline constexpr std::uint32_t kMaxCertificateHeader = 4u << 20;  // LUKS2's largest header
inline constexpr std::size_t kMaxDiskIoPages = 256;               // 1 MiB per request

enum class SecureCallId : std::uint16_t { image_cert = 1, disk_io = 2, attest = 3 };

// IMAGE_CERT: the guest passes the image's LUKS2 header (read from the head of the disk),
// in which the PSP finds the certificate for this chip.
struct ImageCertCall {
  std::uint64_t header_gpa = 0;
  std::uint32_t header_length = 0;
  bool operator==(const ImageCertCall&) const = default;
};

// DISK_IO: move `length` bytes between the VM's disk and the listed guest pages.
struct DiskIoCall {
  bool raw = false;         // read file bytes without the image key (the header area)
  bool write = false;       // guest memory -> disk
  bool flush = false;       // make earlier writes durable (no data, no pages)
  std::uint64_t start = 0;  // keyed: sector of the data segment; raw: byte offset (x 512)
  std::uint32_t length = 0;
  std::vector<std::uint64_t> page_gpas;  // page-aligned, one per 4 KiB of the buffer
  bool operator==(const DiskIoCall&) const = default;
};

// ATTEST: report_data (the tenant's nonce) -> a signed report in the response.
struct AttestCall {
  std::array<std::uint8_t, 64> report_data{};
  bool operator==(const AttestCall&) const = default;
};

struct SecureCallRequest {
  std::uint64_t sequence = 0;
  std::variant<ImageCertCall, DiskIoCall, AttestCall> call;
  bool operator==(const SecureCallRequest&) const = default;
};

// Parses a request page. On failure returns the status the PSP writes back
// (invalid_command, invalid_parameter) with the offset of the offending field as detail.
struct ParsedSecureCall {
  Result result;
  SecureCallRequest request;
};
ParsedSecureCall parse_secure_call(ByteView page);

// The request page a guest writes for `request` (what the guest SDK's secure.c lays out),
// for host-side tools and tests. parse_secure_call(encode_secure_call(r)) gives back r for
// every request the parser accepts.
Bytes encode_secure_call(const SecureCallRequest& request);

// Response fields, written into the request page by write_response().
struct SecureCallResponse {
  Result result;
  // IMAGE_CERT: the certified geometry.
  std::uint32_t sector_size = 0;
  std::uint64_t data_sectors = 0;
  // ATTEST: the signed report.
  Bytes report;
};

// Writes status, detail and the call's response fields into `page` (which holds the
// request), leaving the request header (magic, call, sequence) as the guest wrote it. A
// report longer than the page can hold is never written past it: the page then says
// internal_error (detail: the report's length).
void write_response(SecureCallId call, const SecureCallResponse& response, MutableByteView page);

}  // namespace cvmsim::psp
