#include "psp/secure_call.h"

#include <algorithm>
#include <type_traits>
#include <variant>

#include "common/checked.h"

namespace cvmsim::psp {
namespace {

// Request page offsets (docs/formats.md, "Secure calls"). Fields are read at fixed
// offsets of one page rather than through ByteReader: a bad field must become a status
// with the field's offset written back to the guest, not an exception.
constexpr std::size_t kMagicAt = 0, kVersionAt = 4, kCallAt = 6, kSequenceAt = 8;
constexpr std::size_t kStatusAt = 16, kDetailAt = 20, kArgsAt = 32;

std::uint64_t le(ByteView page, std::size_t at, int width) {
  std::uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | page[at + static_cast<std::size_t>(i)];
  return v;
}

void put_le(MutableByteView page, std::size_t at, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i)
    page[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

ParsedSecureCall fail(Status status, std::size_t field_offset) {
  return {Result::failure(status, field_offset), {}};
}

bool zero(ByteView page, std::size_t at, std::size_t count) {
  return std::all_of(page.begin() + static_cast<std::ptrdiff_t>(at),
                     page.begin() + static_cast<std::ptrdiff_t>(at + count),
                     [](std::uint8_t b) { return b == 0; });
}

}  // namespace

ParsedSecureCall parse_secure_call(ByteView page) {
  if (page.size() != kSecureCallPageSize) return fail(Status::invalid_parameter, 0);
  if (le(page, kMagicAt, 4) != kSecureCallMagic) return fail(Status::invalid_parameter, kMagicAt);
  if (le(page, kVersionAt, 2) != kSecureCallVersion) {
    return fail(Status::invalid_parameter, kVersionAt);
  }
  ParsedSecureCall parsed;
  parsed.request.sequence = le(page, kSequenceAt, 8);
  switch (static_cast<SecureCallId>(le(page, kCallAt, 2))) {
    case SecureCallId::image_cert: {
      ImageCertCall call;
      call.header_gpa = le(page, kArgsAt, 8);
      call.header_length = static_cast<std::uint32_t>(le(page, kArgsAt + 8, 4));
      if (call.header_gpa % 4096 != 0) return fail(Status::invalid_address, kArgsAt);
      if (call.header_length == 0 || call.header_length > kMaxCertificateHeader) {
        return fail(Status::invalid_parameter, kArgsAt + 8);
      }
      if (!add_checked(call.header_gpa, std::uint64_t{call.header_length})) {
        return fail(Status::invalid_address, kArgsAt);
      }
      parsed.request.call = call;
      break;
    }
    case SecureCallId::disk_io: {
      DiskIoCall call;
      call.start = le(page, kArgsAt, 8);
      call.length = static_cast<std::uint32_t>(le(page, kArgsAt + 8, 4));
      const auto direction = le(page, kArgsAt + 12, 2);
      const auto flags = le(page, kArgsAt + 14, 2);
      const auto pages = le(page, kArgsAt + 16, 4);
      if (direction > 2) return fail(Status::invalid_parameter, kArgsAt + 12);
      if ((flags & ~std::uint64_t{1}) != 0) return fail(Status::invalid_parameter, kArgsAt + 14);
      call.write = direction == 1;
      call.flush = direction == 2;
      call.raw = (flags & 1) != 0;
      if (call.flush) {
        if (call.raw || call.start != 0 || call.length != 0 || pages != 0) {
          return fail(Status::invalid_parameter, kArgsAt);
        }
        parsed.request.call = std::move(call);
        break;
      }
      if (call.length == 0 || call.length > kMaxDiskIoPages * 4096) {
        return fail(Status::invalid_parameter, kArgsAt + 8);
      }
      if (pages != (call.length + 4095) / 4096)
        return fail(Status::invalid_parameter, kArgsAt + 16);
      if (!zero(page, kArgsAt + 20, 4)) return fail(Status::invalid_parameter, kArgsAt + 20);
      constexpr std::size_t kListAt = kArgsAt + 24;
      for (std::size_t i = 0; i < pages; ++i) {
        const std::uint64_t gpa = le(page, kListAt + 8 * i, 8);
        if (gpa % 4096 != 0) return fail(Status::invalid_address, kListAt + 8 * i);
        call.page_gpas.push_back(gpa);
      }
      parsed.request.call = std::move(call);
      break;
    }
    case SecureCallId::attest: {
      AttestCall call;
      std::copy_n(page.begin() + kArgsAt, call.report_data.size(), call.report_data.begin());
      parsed.request.call = call;
      break;
    }
    default:
      return fail(Status::invalid_command, kCallAt);
  }
  return parsed;
}

Bytes encode_secure_call(const SecureCallRequest& request) {
  Bytes page(kSecureCallPageSize, 0);
  put_le(page, kMagicAt, kSecureCallMagic, 4);
  put_le(page, kVersionAt, kSecureCallVersion, 2);
  put_le(page, kCallAt, request.call.index() + 1, 2);
  put_le(page, kSequenceAt, request.sequence, 8);
  std::visit(
      [&](const auto& call) {
        using T = std::decay_t<decltype(call)>;
        if constexpr (std::is_same_v<T, ImageCertCall>) {
          put_le(page, kArgsAt, call.header_gpa, 8);
          put_le(page, kArgsAt + 8, call.header_length, 4);
        } else if constexpr (std::is_same_v<T, DiskIoCall>) {
          put_le(page, kArgsAt, call.start, 8);
          put_le(page, kArgsAt + 8, call.length, 4);
          put_le(page, kArgsAt + 12, call.flush ? 2 : call.write ? 1 : 0, 2);
          put_le(page, kArgsAt + 14, call.raw ? 1 : 0, 2);
          put_le(page, kArgsAt + 16, call.page_gpas.size(), 4);
          // Never past the page: the parser refuses more than kMaxDiskIoPages anyway.
          const std::size_t listed = std::min(call.page_gpas.size(), kMaxDiskIoPages);
          for (std::size_t i = 0; i < listed; ++i) {
            put_le(page, kArgsAt + 24 + 8 * i, call.page_gpas[i], 8);
          }
        } else {
          std::copy(call.report_data.begin(), call.report_data.end(),
                    page.begin() + static_cast<std::ptrdiff_t>(kArgsAt));
        }
      },
      request.call);
  return page;
}

void write_response(SecureCallId call, const SecureCallResponse& response, MutableByteView page) {
  constexpr std::size_t kReportLengthAt = kArgsAt + 64, kReportAt = kArgsAt + 72;
  if (page.size() != kSecureCallPageSize) return;  // not a request page: nothing to answer in
  Result result = response.result;
  if (result.ok() && call == SecureCallId::attest &&
      response.report.size() > page.size() - kReportAt) {
    result = Result::failure(Status::internal_error, response.report.size());
  }
  put_le(page, kStatusAt, static_cast<std::uint32_t>(result.status), 4);
  put_le(page, kDetailAt, static_cast<std::uint32_t>(result.detail), 4);
  if (!result.ok()) return;
  if (call == SecureCallId::image_cert) {
    put_le(page, kArgsAt + 16, response.sector_size, 4);
    put_le(page, kArgsAt + 24, response.data_sectors, 8);
  } else if (call == SecureCallId::attest) {
    put_le(page, kReportLengthAt, response.report.size(), 4);
    std::copy(response.report.begin(), response.report.end(),
              page.begin() + static_cast<std::ptrdiff_t>(kReportAt));
  }
}

}  // namespace cvmsim::psp
