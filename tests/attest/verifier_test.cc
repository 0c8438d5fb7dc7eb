// The report verifier against real identities (made with the CLI) and real chip keys (from
// the simulated fuses): every check passes for a genuine report, and each attack fails the
// check it targets with the documented failure class.
#include "attest/verifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>

#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/reference.h"
#include "pki/certificate.h"
#include "psp/chip_fuses.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim::attest {
namespace {

using crypto::SuiteId;

void cli(const std::vector<std::string>& args) {
  const auto r = test::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

class Verifier : public ::testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    const std::string suite(crypto::to_string(GetParam()));
    cli({"vendor", "init", "--suite", suite, path("vendor")});
    cli({"vendor", "init", "--suite", suite, path("other-vendor")});
    cli({"chip", "new", "--vendor", path("vendor"), path("chipA")});
    cli({"chip", "new", "--vendor", path("vendor"), path("chipB")});
    cli({"chip", "new", "--vendor", path("other-vendor"), path("chipC")});
    for (const char* chip : {"chipA", "chipB", "chipC"}) {
      cli({"chip", "export", path(chip), "--out", path(std::string(chip) + ".pem")});
    }
    cli({"provider", "init", "--suite", suite, path("provider")});
    cli({"provider", "init", "--suite", suite, path("other-provider")});
    root = pki::Certificate::parse(read_file(dir / "vendor/root.pem"), "root.pem");
    nonce = crypto::random_bytes(kReportDataSize);
    digest = crypto::suite(GetParam()).hash(as_bytes("the firmware"));
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }

  crypto::Key provider_key(const std::string& name) const {
    return pki::Certificate::parse(read_file(dir / name / "provider.pem"), name).public_key();
  }

  // A report as the PSP of `chip` would sign it for a correctly launched, guarded VM.
  Report genuine(const std::string& chip) const {
    const psp::ChipFuses fuses = psp::load_chip_fuses(dir / chip);
    Report r;
    r.psp_version = 0x010203;
    r.chip_id = fuses.identity.chip_id;
    r.policy = 0x502;
    r.launch_digest = digest;
    r.firmware_check = FirmwareCheck::matched;
    r.certificate_check = CertificateCheck::valid;
    r.guard_mode = 1;
    r.npt_integrity = NptIntegrityState::intact;
    r.asid = 1;
    r.certificate_digest = crypto::suite(GetParam()).hash(as_bytes("an image certificate"));
    r.provider_key_id = measure::provider_key_id(provider_key("provider"));
    std::copy(nonce.begin(), nonce.end(), r.report_data.begin());
    sign_report(r, fuses.attestation_key);
    return r;
  }

  // Re-signs an edited report with `chip`'s attestation key.
  Bytes signed_by(Report r, const std::string& chip) const {
    sign_report(r, psp::load_chip_fuses(dir / chip).attestation_key);
    return r.encode();
  }

  Expectations all_expectations() const {
    Expectations e;
    e.nonce = nonce;
    e.launch_digest = digest;
    e.provider = provider_key("provider");
    return e;
  }

  Verification verify(ByteView report, const std::string& chain_file = "chipA.pem",
                      const Expectations* expect = nullptr) const {
    const Expectations defaults = all_expectations();
    return verify_report(report, "report.bin", read_file(dir / chain_file), chain_file, *root,
                         expect != nullptr ? *expect : defaults);
  }

  test::TempDir dir;
  std::optional<pki::Certificate> root;
  Bytes nonce;
  Bytes digest;
};

// Only the checks in `failing` fail; every other one passes (or is skipped in `skipped`).
void expect_only_failures(const Verification& v, std::vector<CheckId> failing,
                          std::vector<CheckId> skipped = {}) {
  ASSERT_EQ(v.checks.size(), 11u);
  for (const CheckResult& c : v.checks) {
    const bool should_fail = std::find(failing.begin(), failing.end(), c.id) != failing.end();
    const bool should_skip = std::find(skipped.begin(), skipped.end(), c.id) != skipped.end();
    const CheckStatus want =
        should_fail ? CheckStatus::fail : (should_skip ? CheckStatus::skip : CheckStatus::pass);
    EXPECT_EQ(c.status, want) << to_string(c.id) << ": " << c.detail;
    EXPECT_FALSE(c.detail.empty()) << to_string(c.id);
  }
}

TEST_P(Verifier, GenuineReportPassesEveryCheck) {
  const Verification v = verify(genuine("chipA").encode());
  expect_only_failures(v, {});
  EXPECT_TRUE(v.passed());
  EXPECT_EQ(v.failure(), FailureClass::none);
  ASSERT_TRUE(v.report.has_value());
  EXPECT_TRUE(v.report->simulated);
  EXPECT_NE(v.check(CheckId::simulator).detail.find("SIMULATED"), std::string::npos);
}

TEST_P(Verifier, MissingExpectationsAreSkippedNotFailed) {
  const Expectations none;
  const Bytes report = genuine("chipA").encode();
  const Verification v = verify(report, "chipA.pem", &none);
  expect_only_failures(v, {}, {CheckId::nonce, CheckId::measurement, CheckId::provider});
  EXPECT_TRUE(v.passed());
}

TEST_P(Verifier, EveryChangedByteFailsAsMalformedOrBadSignature) {
  const Bytes good = genuine("chipA").encode();
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x10;
    const Verification v = verify(bad);
    EXPECT_FALSE(v.passed()) << "byte " << i;
    EXPECT_TRUE(v.failure() == FailureClass::malformed ||
                v.failure() == FailureClass::bad_signature)
        << "byte " << i << ": " << to_string(v.failure());
  }
}

TEST_P(Verifier, ChangedByteInEachRegionNamesTheFailedCheck) {
  const Bytes good = genuine("chipA").encode();
  auto flipped = [&](std::size_t offset) {
    Bytes bad = good;
    bad[offset] ^= 0x01;
    return verify(bad);
  };
  // Header: the PSP version (offset 12) is covered by the signature only.
  expect_only_failures(flipped(12), {CheckId::signature});
  // Header: the chip id (offset 16) no longer names the chain's chip.
  expect_only_failures(flipped(16), {CheckId::chip_id, CheckId::signature});
  // Body: the launch digest (offset 88) and the report data (offset 240).
  expect_only_failures(flipped(88), {CheckId::signature, CheckId::measurement});
  expect_only_failures(flipped(240), {CheckId::signature, CheckId::nonce});
  // Signature: the last byte of its DER encoding (L at offset 320).
  ASSERT_EQ(good.size(), attest::kReportSize);
  const std::size_t signature_length = good[320] | std::size_t{good[321]} << 8;
  const Verification sig = flipped(attest::kReportSignedSize + 2 + signature_length - 1);
  expect_only_failures(sig, {CheckId::signature});
  EXPECT_EQ(sig.failure(), FailureClass::bad_signature);
  EXPECT_NE(sig.check(CheckId::signature).detail.find("does not verify"), std::string::npos);
  // The signature area's zero padding: a malformed report. A P-384 DER signature can fill
  // the whole area (both integers 49 bytes long), so sign until one leaves padding.
  Bytes padded = good;
  for (int attempt = 0; attempt < 64 && padded[320] == attest::kSignatureArea; ++attempt) {
    padded = genuine("chipA").encode();
  }
  ASSERT_LT(padded[320] | std::size_t{padded[321]} << 8, attest::kSignatureArea);
  padded.back() ^= 0x01;
  EXPECT_EQ(verify(padded).failure(), FailureClass::malformed);
  // The magic: not a report at all; nothing else about it can be checked.
  const Verification magic = flipped(0);
  EXPECT_EQ(magic.check(CheckId::format).status, CheckStatus::fail);
  EXPECT_EQ(magic.check(CheckId::signature).status, CheckStatus::skip);
  EXPECT_EQ(magic.check(CheckId::chain).status, CheckStatus::pass);
  EXPECT_EQ(magic.failure(), FailureClass::malformed);
}

TEST_P(Verifier, ReportFromAnotherChipFails) {
  const Verification v = verify(genuine("chipB").encode());
  expect_only_failures(v, {CheckId::chip_id, CheckId::signature});
  EXPECT_EQ(v.failure(), FailureClass::bad_signature);
  EXPECT_NE(v.check(CheckId::chip_id).detail.find("another chip"), std::string::npos);
  // Chip B claiming to be chip A: the id matches, the signature does not.
  Report forged = genuine("chipB");
  forged.chip_id = genuine("chipA").chip_id;
  const Verification f = verify(signed_by(forged, "chipB"));
  expect_only_failures(f, {CheckId::signature});
  // Against its own chain, chip B's report is fine.
  expect_only_failures(verify(genuine("chipB").encode(), "chipB.pem"), {});
}

TEST_P(Verifier, OldNonceFailsAsExpectation) {
  Report old = genuine("chipA");
  old.report_data.fill(0x5a);
  const Verification v = verify(signed_by(old, "chipA"));
  expect_only_failures(v, {CheckId::nonce});
  EXPECT_EQ(v.failure(), FailureClass::expectation);
  EXPECT_NE(v.check(CheckId::nonce).detail.find("replayed"), std::string::npos);
}

TEST_P(Verifier, ShortNonceIsZeroPadded) {
  Report r = genuine("chipA");
  r.report_data.fill(0);
  const Bytes short_nonce = crypto::random_bytes(16);
  std::copy(short_nonce.begin(), short_nonce.end(), r.report_data.begin());
  const Bytes report = signed_by(r, "chipA");
  Expectations e = all_expectations();
  e.nonce = short_nonce;
  expect_only_failures(verify(report, "chipA.pem", &e), {});
  // The same nonce with a non-zero tail is a different nonce.
  r.report_data[63] = 1;
  expect_only_failures(verify(signed_by(r, "chipA"), "chipA.pem", &e), {CheckId::nonce});
  // More than 64 bytes can never match.
  e.nonce = crypto::random_bytes(65);
  expect_only_failures(verify(report, "chipA.pem", &e), {CheckId::nonce});
  EXPECT_FALSE(report_data_from_nonce(*e.nonce).has_value());
}

TEST_P(Verifier, UnexpectedMeasurementOrProviderFails) {
  const Bytes report = genuine("chipA").encode();
  Expectations e = all_expectations();
  e.launch_digest = crypto::suite(GetParam()).hash(as_bytes("other firmware"));
  Verification v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::measurement});
  EXPECT_EQ(v.failure(), FailureClass::expectation);

  e = all_expectations();
  e.provider = provider_key("other-provider");
  v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::provider});
  EXPECT_NE(v.check(CheckId::provider).detail.find("another provider"), std::string::npos);

  Report no_reference = genuine("chipA");
  no_reference.provider_key_id.assign(no_reference.provider_key_id.size(), 0);
  no_reference.firmware_check = FirmwareCheck::not_checked;
  v = verify(signed_by(no_reference, "chipA"));
  expect_only_failures(v, {CheckId::provider, CheckId::firmware});
  EXPECT_NE(v.check(CheckId::provider).detail.find("names no provider"), std::string::npos);
}

TEST_P(Verifier, ChainThatDoesNotLeadToTheRootFails) {
  // Another vendor's chip signs a perfect report with its own, self-consistent chain.
  Report r = genuine("chipC");
  Verification v = verify(r.encode(), "chipC.pem");
  EXPECT_EQ(v.check(CheckId::chain).status, CheckStatus::fail);
  EXPECT_EQ(v.check(CheckId::signature).status, CheckStatus::skip);
  EXPECT_EQ(v.failure(), FailureClass::bad_chain);
  EXPECT_NE(v.check(CheckId::chain).detail.find("trusted vendor root"), std::string::npos);

  // Chip A's chain with the other vendor's root put in front.
  const std::string other_root = read_text_file(dir / "other-vendor/root.pem");
  std::string chain = read_text_file(dir / "chipA.pem");
  const std::string end_marker = "-----END CERTIFICATE-----\n";
  chain = other_root + chain.substr(chain.find(end_marker) + end_marker.size());
  write_text_file_atomic(dir / "spliced.pem", chain);
  v = verify(genuine("chipA").encode(), "spliced.pem");
  EXPECT_EQ(v.failure(), FailureClass::bad_chain);

  // Not a chain at all.
  write_text_file_atomic(dir / "junk.pem", "not a certificate\n");
  v = verify(genuine("chipA").encode(), "junk.pem");
  EXPECT_EQ(v.check(CheckId::chain).status, CheckStatus::fail);
  EXPECT_EQ(v.failure(), FailureClass::bad_chain);
}

TEST_P(Verifier, PlatformStateChecks) {
  auto with = [&](auto edit) {
    Report r = genuine("chipA");
    edit(r);
    return verify(signed_by(r, "chipA"));
  };
  expect_only_failures(with([](Report& r) { r.firmware_check = FirmwareCheck::mismatch; }),
                       {CheckId::firmware});
  expect_only_failures(with([](Report& r) { r.certificate_check = CertificateCheck::refused; }),
                       {CheckId::certificate});
  expect_only_failures(with([](Report& r) { r.certificate_check = CertificateCheck::none; }), {},
                       {CheckId::certificate});
  expect_only_failures(with([](Report& r) { r.npt_integrity = NptIntegrityState::tampered; }),
                       {CheckId::npt_integrity});
  expect_only_failures(with([](Report& r) {
                         r.guard_mode = 0;
                         r.npt_integrity = NptIntegrityState::not_guarded;
                       }),
                       {}, {CheckId::npt_integrity});
  expect_only_failures(with([](Report& r) { r.guard_mode = 0; }), {CheckId::npt_integrity});
  const Verification hw = with([](Report& r) { r.simulated = false; });
  expect_only_failures(hw, {CheckId::simulator});
  EXPECT_EQ(hw.failure(), FailureClass::expectation);
}

TEST_P(Verifier, DescribeReportGivesHexFields) {
  const Report r = genuine("chipA");
  std::map<std::string, std::string> fields;
  for (const auto& f : describe_report(r)) fields[f.name] = f.value;
  EXPECT_EQ(fields.at("chip_id"), to_hex(r.chip_id));
  EXPECT_EQ(fields.at("launch_digest"), to_hex(digest));
  EXPECT_EQ(fields.at("report_data"), to_hex(nonce));
  EXPECT_EQ(fields.at("psp_version"), "1.2.3");
  EXPECT_EQ(fields.at("guard_mode"), "detect");
  EXPECT_NE(fields.at("simulated").find("not hardware"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Suites, Verifier, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::attest
