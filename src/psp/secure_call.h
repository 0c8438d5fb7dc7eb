// The secure-call wire format: the request page a guest writes into its private memory
// before `out` to the secure-call port, and the response the PSP writes back into the same
// page (docs/formats.md, "Secure calls"). Every request is parsed into a validated struct
// before the PSP acts on it (Firecracker's habit): sizes, counts and alignment are checked
// here, addresses against the VM's tables by the handler.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "abi/cvm_abi.h"
#include "common/bytes.h"
#include "psp/status.h"

namespace cvmsim::psp {

// The wire format's constants and layouts are the ABI's (src/abi/cvm_abi.h), which the
// guest SDK compiles too.
inline constexpr std::uint32_t kSecureCallMagic = CVM_SC_MAGIC;
inline constexpr std::uint16_t kSecureCallVersion = CVM_SC_VERSION;
inline constexpr std::size_t kSecureCallPageSize = CVM_SC_PAGE_SIZE;
inline constexpr std::size_t kSecureCallHeaderSize = sizeof(cvm_sc_header);
inline constexpr std::uint32_t kMaxCertificateHeader = CVM_SC_MAX_CERT_HEADER;
inline constexpr std::size_t kMaxDiskIoPages = CVM_DISK_MAX_PAGES;  // 1 MiB per request
// Where ATTEST's report starts in the page, and so the longest report a response can hold.
inline constexpr std::size_t kReportOffset = offsetof(cvm_sc_page, args.attest.report);

enum class SecureCallId : std::uint16_t {
  image_cert = CVM_SC_IMAGE_CERT,
  disk_io = CVM_SC_DISK_IO,
  attest = CVM_SC_ATTEST,
};

// Each call type names its id and its name in the trace, so that encoding and dispatch
// follow the type (std::visit), never a variant index.

// IMAGE_CERT: the guest passes the image's LUKS2 header (read from the head of the disk),
// in which the PSP finds the certificate for this chip.
struct ImageCertCall {
  static constexpr SecureCallId kId = SecureCallId::image_cert;
  static constexpr std::string_view kName = "IMAGE_CERT";
  std::uint64_t header_gpa = 0;
  std::uint32_t header_length = 0;
  bool operator==(const ImageCertCall&) const = default;
};

// DISK_IO: move `length` bytes between the VM's disk and the listed guest pages.
struct DiskIoCall {
  static constexpr SecureCallId kId = SecureCallId::disk_io;
  static constexpr std::string_view kName = "DISK_IO";
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
  static constexpr SecureCallId kId = SecureCallId::attest;
  static constexpr std::string_view kName = "ATTEST";
  std::array<std::uint8_t, CVM_REPORT_DATA_SIZE> report_data{};
  bool operator==(const AttestCall&) const = default;
};

struct SecureCallRequest {
  std::uint64_t sequence = 0;
  std::variant<ImageCertCall, DiskIoCall, AttestCall> call;
  [[nodiscard]] SecureCallId id() const {
    return std::visit([](const auto& c) { return c.kId; }, call);
  }
  bool operator==(const SecureCallRequest&) const = default;
};

// Parses a request page. On failure returns the status the PSP writes back
// (invalid_command, invalid_parameter, invalid_address) with the page offset of the
// offending field as detail.
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
  // The sequence number of the request the PSP served (0: it served none: the request was
  // malformed, replayed or reordered). DISK_IO answers a served request with its
  // completion record as well (cvm_disk_completion), carrying `dma_tag`.
  std::uint64_t answered = 0;
  std::uint64_t dma_tag = 0;
};

// Writes status, detail and the call's response fields into `page` (which holds the
// request), leaving the request header (magic, call, sequence) as the guest wrote it;
// for a served DISK_IO, also the completion record. A
// report longer than the page can hold is never written past it: the page then says
// internal_error (detail: the report's length).
void write_response(SecureCallId call, const SecureCallResponse& response, MutableByteView page);

}  // namespace cvmsim::psp
