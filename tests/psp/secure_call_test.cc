// The secure-call parser: every guest-supplied field is validated before the PSP acts.
#include "psp/secure_call.h"

#include <gtest/gtest.h>

#include <random>

namespace cvmsim::psp {
namespace {

void put(Bytes& page, std::size_t at, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i)
    page[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

Bytes request(std::uint16_t call, std::uint64_t sequence = 1) {
  Bytes page(kSecureCallPageSize, 0);
  put(page, 0, kSecureCallMagic, 4);
  put(page, 4, kSecureCallVersion, 2);
  put(page, 6, call, 2);
  put(page, 8, sequence, 8);
  return page;
}

Bytes disk_io(std::uint64_t start, std::uint32_t length, std::uint32_t pages,
              std::uint64_t first_gpa = 0x800000) {
  Bytes page = request(2);
  put(page, 32, start, 8);
  put(page, 40, length, 4);
  put(page, 48, pages, 4);
  for (std::uint32_t i = 0; i < pages && 56 + 8 * i + 8 <= page.size(); ++i) {
    put(page, 56 + 8 * i, first_gpa + 4096ull * i, 8);
  }
  return page;
}

TEST(SecureCall, ParsesAWellFormedDiskRequest) {
  const ParsedSecureCall p = parse_secure_call(disk_io(7, 8192, 2));
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.request.sequence, 1u);
  const auto& call = std::get<DiskIoCall>(p.request.call);
  EXPECT_EQ(call.start, 7u);
  EXPECT_EQ(call.length, 8192u);
  EXPECT_FALSE(call.write);
  EXPECT_FALSE(call.raw);
  EXPECT_EQ(call.page_gpas, (std::vector<std::uint64_t>{0x800000, 0x801000}));
}

TEST(SecureCall, RefusesEachBadFieldNamingItsOffset) {
  struct Case {
    const char* what;
    Bytes page;
    Status status;
    std::uint64_t offset;
  };
  std::vector<Case> cases;
  Bytes bad_magic = request(3);
  bad_magic[0] ^= 1;
  cases.push_back({"magic", bad_magic, Status::invalid_parameter, 0});
  Bytes bad_version = request(3);
  put(bad_version, 4, 2, 2);
  cases.push_back({"version", bad_version, Status::invalid_parameter, 4});
  cases.push_back({"unknown call", request(9), Status::invalid_command, 6});
  cases.push_back({"zero length", disk_io(0, 0, 0), Status::invalid_parameter, 40});
  cases.push_back(
      {"over 1 MiB", disk_io(0, (1u << 20) + 4096, 257), Status::invalid_parameter, 40});
  cases.push_back({"page count", disk_io(0, 8192, 3), Status::invalid_parameter, 48});
  cases.push_back({"unaligned page", disk_io(0, 4096, 1, 0x800010), Status::invalid_address, 56});
  Bytes direction = disk_io(0, 4096, 1);
  put(direction, 44, 3, 2);
  cases.push_back({"direction", direction, Status::invalid_parameter, 44});
  Bytes flush_with_data = disk_io(0, 4096, 1);
  put(flush_with_data, 44, 2, 2);
  cases.push_back({"flush with data", flush_with_data, Status::invalid_parameter, 32});
  Bytes flags = disk_io(0, 4096, 1);
  put(flags, 46, 2, 2);
  cases.push_back({"flags", flags, Status::invalid_parameter, 46});
  Bytes cert = request(1);
  put(cert, 32, 0x1001, 8);
  put(cert, 40, 4096, 4);
  cases.push_back({"unaligned header", cert, Status::invalid_address, 32});
  Bytes wrap = request(1);
  put(wrap, 32, ~std::uint64_t{0xfff}, 8);
  put(wrap, 40, 8192, 4);
  cases.push_back({"header range wraps", wrap, Status::invalid_address, 32});
  Bytes big = request(1);
  put(big, 32, 0x400000, 8);
  put(big, 40, kMaxCertificateHeader + 1, 4);
  cases.push_back({"header over 4 MiB", big, Status::invalid_parameter, 40});
  for (const Case& c : cases) {
    const ParsedSecureCall p = parse_secure_call(c.page);
    EXPECT_EQ(p.result.status, c.status) << c.what;
    EXPECT_EQ(p.result.detail, c.offset) << c.what;
  }
  EXPECT_FALSE(parse_secure_call(Bytes(100, 0)).result.ok());  // not a page
}

TEST(SecureCall, AFlushCarriesNoData) {
  Bytes page = request(2);
  put(page, 44, 2, 2);
  const ParsedSecureCall p = parse_secure_call(page);
  ASSERT_TRUE(p.result.ok());
  const auto& call = std::get<DiskIoCall>(p.request.call);
  EXPECT_TRUE(call.flush);
  EXPECT_TRUE(call.page_gpas.empty());
}

TEST(SecureCall, RandomPagesNeverYieldAnInconsistentRequest) {
  std::mt19937_64 rng(20261202);
  std::size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes page = disk_io(rng(), static_cast<std::uint32_t>(rng() % (2u << 20)),
                         static_cast<std::uint32_t>(rng() % 300), rng() & ~std::uint64_t{0xfff});
    // Corrupt a few random bytes of the argument area.
    for (int k = 0; k < 3; ++k) page[32 + rng() % 64] = static_cast<std::uint8_t>(rng());
    const ParsedSecureCall p = parse_secure_call(page);
    if (!p.result.ok()) continue;
    ++accepted;
    const auto* call = std::get_if<DiskIoCall>(&p.request.call);
    ASSERT_NE(call, nullptr);
    if (call->flush) {
      ASSERT_EQ(call->length, 0u);
      ASSERT_TRUE(call->page_gpas.empty());
      continue;
    }
    ASSERT_GT(call->length, 0u);
    ASSERT_LE(call->length, kMaxDiskIoPages * 4096);
    ASSERT_EQ(call->page_gpas.size(), (call->length + 4095) / 4096);
    for (const auto gpa : call->page_gpas) ASSERT_EQ(gpa % 4096, 0u);
  }
  EXPECT_GT(accepted, 0u);  // the generator does produce valid requests too
}

TEST(SecureCall, ResponsesLeaveTheRequestHeaderAndCarryTheReport) {
  Bytes page = request(3, 42);
  SecureCallResponse response;
  response.report = Bytes(392, 0xab);
  write_response(SecureCallId::attest, response, page);
  const ParsedSecureCall again = parse_secure_call(page);
  ASSERT_TRUE(again.result.ok());
  EXPECT_EQ(again.request.sequence, 42u);
  EXPECT_EQ(page[96] | (page[97] << 8), 392);
  EXPECT_EQ(page[104], 0xab);
  EXPECT_EQ(page[104 + 391], 0xab);
  response.result = Result::failure(Status::replayed_request, 43);
  write_response(SecureCallId::attest, response, page);
  EXPECT_EQ(page[16], static_cast<std::uint8_t>(Status::replayed_request));
  EXPECT_EQ(page[20], 43);
}

TEST(SecureCall, AReportLongerThanThePageIsRefusedInThePageNotWrittenPastIt) {
  Bytes page = request(3, 7);
  page.push_back(0x5a);  // a canary just past the page (ASan would also see the overrun)
  SecureCallResponse response;
  response.report = Bytes(kSecureCallPageSize - 104 + 1, 0xab);
  write_response(SecureCallId::attest, response, MutableByteView(page).first(kSecureCallPageSize));
  EXPECT_EQ(page[16], static_cast<std::uint8_t>(Status::internal_error));
  EXPECT_EQ(page[20] | (page[21] << 8), kSecureCallPageSize - 104 + 1);  // detail: its length
  EXPECT_EQ(page[104], 0);  // nothing of the report was written
  EXPECT_EQ(page.back(), 0x5a);
  // Exactly what fits is written whole.
  response.report.pop_back();
  write_response(SecureCallId::attest, response, MutableByteView(page).first(kSecureCallPageSize));
  EXPECT_EQ(page[16], 0);
  EXPECT_EQ(page[kSecureCallPageSize - 1], 0xab);
  EXPECT_EQ(page.back(), 0x5a);
}

TEST(SecureCall, EveryRequestEncodesToAPageThatParsesBackToIt) {
  std::array<std::uint8_t, 64> nonce{};
  nonce[0] = 1;
  nonce[63] = 0xff;
  DiskIoCall longest{false, true, false, 1ull << 40, kMaxDiskIoPages * 4096, {}};
  for (std::uint64_t i = 0; i < kMaxDiskIoPages; ++i) longest.page_gpas.push_back(i << 12);
  const std::vector<SecureCallRequest> requests = {
      {1, ImageCertCall{0x300000, kMaxCertificateHeader}},
      {2, DiskIoCall{false, false, false, 8, 8192, {0x400000, 0x7000}}},
      {3, longest},
      {4, DiskIoCall{true, false, false, 1, 100, {0x1000}}},
      {5, DiskIoCall{false, false, true, 0, 0, {}}},
      {~std::uint64_t{0}, AttestCall{nonce}},
  };
  for (const SecureCallRequest& r : requests) {
    const ParsedSecureCall parsed = parse_secure_call(encode_secure_call(r));
    ASSERT_TRUE(parsed.result.ok())
        << "call " << r.call.index() << " detail " << parsed.result.detail;
    EXPECT_EQ(parsed.request, r) << "call " << r.call.index();
  }
  // The layout is the documented one: the fields the tests above write by hand.
  Bytes by_hand = disk_io(0, 4096, 1);
  put(by_hand, 8, 9, 8);
  EXPECT_EQ(encode_secure_call({9, DiskIoCall{false, false, false, 0, 4096, {0x800000}}}), by_hand);
}

}  // namespace
}  // namespace cvmsim::psp
