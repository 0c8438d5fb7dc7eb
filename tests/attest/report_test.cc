#include "attest/report.h"

#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "crypto/suite.h"

namespace cvmsim::attest {
namespace {

using crypto::SuiteId;

Report sample(SuiteId suite) {
  const crypto::Suite& s = crypto::suite(suite);
  Report r;
  r.psp_version = 0x010000;
  r.chip_id = crypto::random_bytes(16);
  r.policy = 0x502;
  r.launch_digest = s.hash(as_bytes("fw"));
  r.firmware_check = FirmwareCheck::matched;
  r.certificate_check = CertificateCheck::valid;
  r.guard_mode = 1;
  r.npt_integrity = NptIntegrityState::intact;
  r.asid = 3;
  r.certificate_digest = s.hash(as_bytes("cert"));
  r.provider_key_id = s.hash(as_bytes("provider"));
  for (std::size_t i = 0; i < r.report_data.size(); ++i) {
    r.report_data[i] = static_cast<std::uint8_t>(i);
  }
  return r;
}

class ReportForSuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(ReportForSuite, SignEncodeDecodeVerify) {
  const crypto::Key key = crypto::suite(GetParam()).generate_key();
  Report r = sample(GetParam());
  sign_report(r, key);
  const Bytes encoded = r.encode();
  // One size whatever the DER signature's length: the rest of the area is zeros.
  EXPECT_EQ(encoded.size(), kReportSize);
  EXPECT_EQ(encoded.size(), 426u);
  EXPECT_LE(r.signature.size(), kSignatureArea);
  const Report back = Report::decode(encoded, "report.bin");
  EXPECT_EQ(back.encode(), encoded);
  EXPECT_TRUE(back.signature_valid(key.public_only()));
  EXPECT_TRUE(back.simulated);
  EXPECT_EQ(back.chip_id, r.chip_id);
  EXPECT_EQ(back.report_data, r.report_data);
  EXPECT_FALSE(back.signature_valid(crypto::suite(GetParam()).generate_key()));
}

TEST_P(ReportForSuite, EveryChangedByteFailsDecodeOrSignature) {
  const crypto::Key key = crypto::suite(GetParam()).generate_key();
  Report r = sample(GetParam());
  sign_report(r, key);
  const Bytes encoded = r.encode();
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    Bytes tampered = encoded;
    tampered[i] ^= 0x02;
    bool refused = false;
    try {
      refused = !Report::decode(tampered, "r").signature_valid(key.public_only());
    } catch (const Error&) {
      refused = true;
    }
    EXPECT_TRUE(refused) << "byte " << i;
  }
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_THROW((void)Report::decode(ByteView(encoded).first(n), "r"), Error);
  }
}

TEST_P(ReportForSuite, ChipIdEndingInZeroRoundTrips) {
  const crypto::Key key = crypto::suite(GetParam()).generate_key();
  Report r = sample(GetParam());
  r.chip_id.back() = 0;
  sign_report(r, key);
  EXPECT_EQ(Report::decode(r.encode(), "r").chip_id, r.chip_id);
}

// A value judged after it was read is reported at the offset where its field starts,
// the offset docs/formats.md gives (the reader is past it by then).
TEST_P(ReportForSuite, AnOutOfRangeFieldIsNamedAtItsDocumentedOffset) {
  Report r = sample(GetParam());
  sign_report(r, crypto::suite(GetParam()).generate_key());
  const Bytes good = r.encode();
  auto message = [&](std::size_t offset, std::uint8_t value) -> std::string {
    Bytes bad = good;
    bad[offset] = value;
    if (offset == 320) bad[321] = 0;
    try {
      (void)Report::decode(bad, "report.bin");
    } catch (const Error& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(message(320, 0),
            "report.bin: field 'signature_length' at offset 320: is 0, must be 1..104");
  EXPECT_EQ(message(320, 200),
            "report.bin: field 'signature_length' at offset 320: is 200, must be 1..104");
  EXPECT_EQ(message(11, 0x81), "report.bin: field 'flags' at offset 11: unknown flag bits");
  EXPECT_EQ(message(136, 7),
            "report.bin: field 'firmware_check' at offset 136: value 7 is out of range 0..2");
  EXPECT_EQ(message(139, 3),
            "report.bin: field 'npt_integrity' at offset 139: value 3 is out of range 0..2");
}

INSTANTIATE_TEST_SUITE_P(Suites, ReportForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

TEST(Report, RandomInputNeverCrashes) {
  std::mt19937 rng(9);
  for (int i = 0; i < 300; ++i) {
    Bytes junk(static_cast<std::size_t>(rng() % 500));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (i % 2 == 0 && junk.size() >= 8) std::copy_n("CVMSRPT1", 8, junk.begin());
    EXPECT_THROW((void)Report::decode(junk, "junk"), Error);
  }
}

}  // namespace
}  // namespace cvmsim::attest
