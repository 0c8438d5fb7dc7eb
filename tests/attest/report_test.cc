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

// What decoding `report` says once byte `offset` is `value`: the error, or "accepted".
std::string decode_message(Bytes report, std::size_t offset, std::uint8_t value) {
  report[offset] = value;
  try {
    (void)Report::decode(report, "report.bin");
  } catch (const Error& e) {
    return e.what();
  }
  return "accepted";
}

// A value judged after it was read is reported at the offset where its field starts,
// the offset docs/formats.md gives (the reader is past it by then).
TEST_P(ReportForSuite, AnOutOfRangeFieldIsNamedAtItsDocumentedOffset) {
  Report r = sample(GetParam());
  sign_report(r, crypto::suite(GetParam()).generate_key());
  const Bytes good = r.encode();
  auto message = [&](std::size_t offset, std::uint8_t value) {
    Bytes base = good;
    if (offset == 320) base[321] = 0;  // the signature length's high byte
    return decode_message(std::move(base), offset, value);
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
  EXPECT_EQ(message(72, 2),
            "report.bin: field 'disk_integrity' at offset 72: value 2 is out of range 0..1");
}

// An authenticated image: root, version and integrity at offsets 32, 64 and 72, and back.
TEST_P(ReportForSuite, DiskFieldsRoundTrip) {
  const crypto::Key key = crypto::suite(GetParam()).generate_key();
  Report r = sample(GetParam());
  r.disk_root = crypto::random_bytes(kDiskRootSize);
  r.disk_version = 0x0102030405060708;
  r.disk_integrity = DiskIntegrity::authenticated;
  sign_report(r, key);
  const Bytes encoded = r.encode();
  ASSERT_EQ(encoded.size(), 426u);
  EXPECT_EQ(encoded[8], 3);  // version 3, little-endian
  EXPECT_EQ(encoded[9], 0);
  EXPECT_EQ(Bytes(encoded.begin() + 32, encoded.begin() + 64), r.disk_root);
  EXPECT_EQ(Bytes(encoded.begin() + 64, encoded.begin() + 72),
            (Bytes{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}));
  EXPECT_EQ(encoded[72], 1);
  EXPECT_TRUE(all_zero(ByteView(encoded).subspan(73, 7)));
  const Report back = Report::decode(encoded, "report.bin");
  EXPECT_EQ(back.disk_root, r.disk_root);
  EXPECT_EQ(back.disk_version, r.disk_version);
  EXPECT_EQ(back.disk_integrity, DiskIntegrity::authenticated);
  EXPECT_EQ(back.encode(), encoded);
  EXPECT_TRUE(back.signature_valid(key.public_only()));

  // Without an authenticated image the 48 bytes are zeros, and decode to an empty root.
  const Report plain = sample(GetParam());
  Report signed_plain = plain;
  sign_report(signed_plain, key);
  const Bytes zeros = signed_plain.encode();
  EXPECT_TRUE(all_zero(ByteView(zeros).subspan(32, 48)));
  const Report none = Report::decode(zeros, "report.bin");
  EXPECT_EQ(none.disk_integrity, DiskIntegrity::none);
  EXPECT_TRUE(none.disk_root.empty());
  EXPECT_EQ(none.disk_version, 0u);
}

// Integrity 0 says "no authenticated image": a root or version beside it, or a byte in the
// reserved tail, is not a report (the PSP never signs one).
TEST_P(ReportForSuite, DiskFieldsWithoutAnAuthenticatedImageMustBeZero) {
  Report r = sample(GetParam());
  sign_report(r, crypto::suite(GetParam()).generate_key());
  const Bytes good = r.encode();
  auto message = [&](std::size_t offset, std::uint8_t value) {
    return decode_message(good, offset, value);
  };
  EXPECT_EQ(message(32, 1),
            "report.bin: field 'disk_root' at offset 32: must be zero without an authenticated "
            "image");
  EXPECT_EQ(message(63, 0xff),
            "report.bin: field 'disk_root' at offset 32: must be zero without an authenticated "
            "image");
  EXPECT_EQ(message(64, 5),
            "report.bin: field 'disk_version' at offset 64: must be zero without an "
            "authenticated image");
  EXPECT_NE(message(73, 1).find("'reserved_after_disk_integrity'"), std::string::npos);
  EXPECT_NE(message(79, 1).find("'reserved_after_disk_integrity'"), std::string::npos);
  // With integrity 1 the same bytes are a root and a version (the signature then decides).
  Bytes authenticated = good;
  authenticated[72] = 1;
  authenticated[32] = 1;
  authenticated[64] = 5;
  const Report decoded = Report::decode(authenticated, "report.bin");
  EXPECT_EQ(decoded.disk_integrity, DiskIntegrity::authenticated);
  EXPECT_EQ(decoded.disk_root.size(), kDiskRootSize);
  EXPECT_EQ(decoded.disk_root[0], 1);
  EXPECT_EQ(decoded.disk_version, 5u);
}

// The PSP side refuses to sign what decode would refuse.
TEST_P(ReportForSuite, InconsistentDiskFieldsAreNotSigned) {
  const crypto::Key key = crypto::suite(GetParam()).generate_key();
  auto signs = [&](auto edit) {
    Report r = sample(GetParam());
    edit(r);
    try {
      sign_report(r, key);
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  EXPECT_FALSE(signs([](Report& r) { r.disk_root = Bytes(kDiskRootSize, 1); }));
  EXPECT_FALSE(signs([](Report& r) { r.disk_version = 1; }));
  EXPECT_FALSE(signs([](Report& r) { r.disk_integrity = DiskIntegrity::authenticated; }));
  EXPECT_FALSE(signs([](Report& r) {
    r.disk_integrity = DiskIntegrity::authenticated;
    r.disk_root = Bytes(48, 1);
  }));
  EXPECT_TRUE(signs([](Report& r) {
    r.disk_integrity = DiskIntegrity::authenticated;
    r.disk_root = Bytes(kDiskRootSize, 0);  // a root that happens to be zero is still a root
  }));
}

// Version 2 had zeros where the disk fields are now. Like version 1 before it, it is not
// read: the version is part of what was signed, and one version means one encoding.
TEST_P(ReportForSuite, EarlierVersionsAreRefusedNamingTheVersion) {
  Report r = sample(GetParam());
  sign_report(r, crypto::suite(GetParam()).generate_key());
  Bytes v2 = r.encode();
  v2[8] = 2;
  try {
    (void)Report::decode(v2, "old.bin");
    ADD_FAILURE() << "a version-2 report was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "old.bin: report version 2 is not supported (expected 3): a report of an earlier "
              "cvmsim release; ask the PSP for a new one");
  }
  Bytes v4 = r.encode();
  v4[8] = 4;
  try {
    (void)Report::decode(v4, "new.bin");
    ADD_FAILURE() << "a version-4 report was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "new.bin: report version 4 is not supported (expected 3)");
  }
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
