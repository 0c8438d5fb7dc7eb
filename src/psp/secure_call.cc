#include "psp/secure_call.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <variant>

#include "common/checked.h"

namespace cvmsim::psp {
namespace {

// The page is copied into the ABI's struct: both ends are little-endian (the ABI says
// so), and the copy makes the page's alignment in guest memory irrelevant.
static_assert(std::endian::native == std::endian::little, "the ABI is little-endian");

// A field's offset in the page: the detail of a refusal, so that the guest (and whoever
// reads the trace) learns which field was wrong.
#define CVM_FIELD(member) offsetof(cvm_sc_page, args.member)

cvm_sc_page load_page(ByteView page) {
  cvm_sc_page p{};
  std::memcpy(&p, page.data(), sizeof p);
  return p;
}

ParsedSecureCall refuse_field(Status status, std::size_t field_offset) {
  return {Result::failure(status, field_offset), {}};
}

ParsedSecureCall accept(std::uint64_t sequence, auto call) {
  return {Result::success(), {sequence, std::move(call)}};
}

ParsedSecureCall parse_image_cert(std::uint64_t sequence, const cvm_sc_image_cert& args) {
  const ImageCertCall call{args.header_gpa, args.header_length};
  if (call.header_gpa % kSecureCallPageSize != 0) {
    return refuse_field(Status::invalid_address, CVM_FIELD(image_cert.header_gpa));
  }
  if (call.header_length == 0 || call.header_length > kMaxCertificateHeader) {
    return refuse_field(Status::invalid_parameter, CVM_FIELD(image_cert.header_length));
  }
  if (!add_checked(call.header_gpa, std::uint64_t{call.header_length})) {
    return refuse_field(Status::invalid_address, CVM_FIELD(image_cert.header_gpa));
  }
  return accept(sequence, call);
}

ParsedSecureCall parse_disk_io(std::uint64_t sequence, const cvm_sc_disk_io& args) {
  if (args.direction > CVM_DISK_FLUSH) {
    return refuse_field(Status::invalid_parameter, CVM_FIELD(disk_io.direction));
  }
  if ((args.flags & ~CVM_DISK_FLAG_RAW) != 0) {
    return refuse_field(Status::invalid_parameter, CVM_FIELD(disk_io.flags));
  }
  DiskIoCall call;
  call.start = args.start;
  call.length = args.length;
  call.write = args.direction == CVM_DISK_WRITE;
  call.flush = args.direction == CVM_DISK_FLUSH;
  call.raw = (args.flags & CVM_DISK_FLAG_RAW) != 0;
  if (call.flush) {
    if (call.raw || call.start != 0 || call.length != 0 || args.page_count != 0) {
      return refuse_field(Status::invalid_parameter, CVM_FIELD(disk_io.start));
    }
    return accept(sequence, std::move(call));
  }
  if (call.length == 0 || call.length > CVM_DISK_MAX_BYTES) {
    return refuse_field(Status::invalid_parameter, CVM_FIELD(disk_io.length));
  }
  if (args.page_count != (call.length + 4095) / 4096) {
    return refuse_field(Status::invalid_parameter, CVM_FIELD(disk_io.page_count));
  }
  if (args.reserved != 0)
    return refuse_field(Status::invalid_parameter, CVM_FIELD(disk_io.reserved));
  for (std::size_t i = 0; i < args.page_count; ++i) {
    const std::uint64_t gpa = args.pages[i];
    if (gpa % 4096 != 0) {
      return refuse_field(Status::invalid_address, CVM_FIELD(disk_io.pages) + sizeof(gpa) * i);
    }
    call.page_gpas.push_back(gpa);
  }
  return accept(sequence, std::move(call));
}

ParsedSecureCall parse_attest(std::uint64_t sequence, const cvm_sc_attest& args) {
  AttestCall call;
  std::copy_n(args.report_data, call.report_data.size(), call.report_data.begin());
  return accept(sequence, call);
}

}  // namespace

ParsedSecureCall parse_secure_call(ByteView page) {
  if (page.size() != kSecureCallPageSize) return refuse_field(Status::invalid_parameter, 0);
  const cvm_sc_page p = load_page(page);
  if (p.header.magic != kSecureCallMagic) {
    return refuse_field(Status::invalid_parameter, offsetof(cvm_sc_header, magic));
  }
  if (p.header.version != kSecureCallVersion) {
    return refuse_field(Status::invalid_parameter, offsetof(cvm_sc_header, version));
  }
  switch (p.header.call) {
    case CVM_SC_IMAGE_CERT:
      return parse_image_cert(p.header.sequence, p.args.image_cert);
    case CVM_SC_DISK_IO:
      return parse_disk_io(p.header.sequence, p.args.disk_io);
    case CVM_SC_ATTEST:
      return parse_attest(p.header.sequence, p.args.attest);
    default:
      return refuse_field(Status::invalid_command, offsetof(cvm_sc_header, call));
  }
}

namespace {

void encode_args(const ImageCertCall& call, cvm_sc_page& p) {
  p.args.image_cert.header_gpa = call.header_gpa;
  p.args.image_cert.header_length = call.header_length;
}

void encode_args(const DiskIoCall& call, cvm_sc_page& p) {
  cvm_sc_disk_io& args = p.args.disk_io;
  args.start = call.start;
  args.length = call.length;
  args.direction = call.flush ? CVM_DISK_FLUSH : call.write ? CVM_DISK_WRITE : CVM_DISK_READ;
  args.flags = call.raw ? CVM_DISK_FLAG_RAW : 0;
  args.page_count = static_cast<std::uint32_t>(call.page_gpas.size());
  // Never past the page: the parser refuses more than kMaxDiskIoPages anyway.
  const std::size_t listed = std::min(call.page_gpas.size(), kMaxDiskIoPages);
  std::copy_n(call.page_gpas.begin(), listed, args.pages);
}

void encode_args(const AttestCall& call, cvm_sc_page& p) {
  std::copy(call.report_data.begin(), call.report_data.end(), p.args.attest.report_data);
}

}  // namespace

Bytes encode_secure_call(const SecureCallRequest& request) {
  cvm_sc_page p{};
  p.header.magic = kSecureCallMagic;
  p.header.version = kSecureCallVersion;
  p.header.call = static_cast<std::uint16_t>(request.id());
  p.header.sequence = request.sequence;
  std::visit([&](const auto& call) { encode_args(call, p); }, request.call);
  Bytes page(sizeof p);
  std::memcpy(page.data(), &p, sizeof p);
  return page;
}

void write_response(SecureCallId call, const SecureCallResponse& response, MutableByteView page) {
  if (page.size() != kSecureCallPageSize) return;  // not a request page: nothing to answer in
  cvm_sc_page p = load_page(page);
  Result result = response.result;
  if (result.ok() && call == SecureCallId::attest &&
      response.report.size() > sizeof p.args.attest.report) {
    result = Result::failure(Status::internal_error, response.report.size());
  }
  p.header.status = static_cast<std::uint32_t>(result.status);
  p.header.detail = static_cast<std::uint32_t>(result.detail);
  if (result.ok() && call == SecureCallId::image_cert) {
    p.args.image_cert.sector_size = response.sector_size;
    p.args.image_cert.data_sectors = response.data_sectors;
  } else if (call == SecureCallId::disk_io && response.answered != 0) {
    p.args.disk_io.completion = {response.answered, response.dma_tag, p.header.status,
                                 p.header.detail};
  } else if (result.ok() && call == SecureCallId::attest) {
    p.args.attest.report_length = static_cast<std::uint32_t>(response.report.size());
    std::copy(response.report.begin(), response.report.end(), p.args.attest.report);
  }
  std::memcpy(page.data(), &p, sizeof p);
}

#undef CVM_FIELD

}  // namespace cvmsim::psp
