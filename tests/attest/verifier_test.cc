// The report verifier against real identities (made with the CLI) and real chip keys (from
// the simulated fuses): every check passes for a genuine report, and each attack fails the
// check it targets with the documented failure class.
#include "attest/verifier.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "attest/appraisal_policy.h"
#include "attest/attest_error.h"
#include "attest/ear.h"
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

  // `genuine` for a VM that runs from an authenticated disk image.
  Report with_disk(const std::string& chip, std::uint64_t version = 5) const {
    Report r = genuine(chip);
    r.disk_integrity = DiskIntegrity::authenticated;
    r.disk_root = disk_root;
    r.disk_version = version;
    sign_report(r, psp::load_chip_fuses(dir / chip).attestation_key);
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
  Bytes disk_root = crypto::random_bytes(kDiskRootSize);
};

// Only the checks in `failing` fail; every other one passes (or is skipped in `skipped`).
// Without `with_policy` the appraisal check is expected to SKIP (no policy given), and
// without `with_disk` the disk checks (no expected disk root or version given).
void expect_only_failures(const Verification& v, std::vector<CheckId> failing,
                          std::vector<CheckId> skipped = {}, bool with_policy = false,
                          bool with_disk = false) {
  if (!with_policy) skipped.push_back(CheckId::appraisal);
  if (!with_disk) {
    for (CheckId id : {CheckId::disk_root, CheckId::disk_version}) {
      if (std::find(failing.begin(), failing.end(), id) == failing.end()) skipped.push_back(id);
    }
  }
  ASSERT_EQ(v.checks.size(), 14u);
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

TEST_P(Verifier, MissingExpectationsFailUnlessUncheckedIsAllowed) {
  Expectations none;
  const Bytes report = genuine("chipA").encode();
  Verification v = verify(report, "chipA.pem", &none);
  expect_only_failures(v, {CheckId::nonce, CheckId::measurement, CheckId::provider});
  EXPECT_FALSE(v.passed());
  EXPECT_EQ(v.failure(), FailureClass::expectation);
  for (CheckId id : {CheckId::nonce, CheckId::measurement, CheckId::provider}) {
    EXPECT_NE(v.check(id).detail.find("--allow-unchecked"), std::string::npos)
        << v.check(id).detail;
  }
  EXPECT_NE(v.check(CheckId::nonce).detail.find("--nonce"), std::string::npos);
  // Only the nonce missing: only the nonce fails.
  Expectations no_nonce = all_expectations();
  no_nonce.nonce.reset();
  expect_only_failures(verify(report, "chipA.pem", &no_nonce), {CheckId::nonce});

  none.allow_unchecked = true;
  v = verify(report, "chipA.pem", &none);
  expect_only_failures(v, {}, {CheckId::nonce, CheckId::measurement, CheckId::provider});
  EXPECT_TRUE(v.passed());
}

// A policy file's text, parsed as `cvmsim verify --policy` does.
AppraisalPolicy policy_from(const std::string& json, const std::filesystem::path& base = ".") {
  return parse_appraisal_policy(json, "policy.json", base);
}

TEST_P(Verifier, AppraisalPolicyListsStandInForExpectations) {
  const Bytes report = genuine("chipA").encode();
  Expectations e;
  e.nonce = nonce;
  e.policy = policy_from(
      fmt::format(R"({{"launch_digests": ["{}", "{}"], "providers": ["provider/provider.pem"]}})",
                  to_hex(crypto::suite(GetParam()).hash(as_bytes("other"))), to_hex(digest)),
      dir.path());
  // A policy with lists only has no platform rule to break: appraisal passes.
  expect_only_failures(verify(report, "chipA.pem", &e), {}, {}, true);
  // The provider by its key id works as well as by its certificate.
  e.policy = policy_from(fmt::format(R"({{"launch_digests": ["{}"], "providers": ["{}"]}})",
                                     to_hex(digest),
                                     to_hex(measure::provider_key_id(provider_key("provider")))));
  expect_only_failures(verify(report, "chipA.pem", &e), {}, {}, true);
  // A digest or provider not listed fails its check and names the list.
  e.policy = policy_from(
      fmt::format(R"({{"launch_digests": ["{}"], "providers": ["other-provider/provider.pem"]}})",
                  to_hex(crypto::suite(GetParam()).hash(as_bytes("other")))),
      dir.path());
  const Verification v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::measurement, CheckId::provider}, {}, true);
  EXPECT_NE(v.check(CheckId::measurement).detail.find("policy's launch_digests"),
            std::string::npos);
}

TEST_P(Verifier, AppraisalPolicyPlatformRules) {
  auto appraise = [&](const std::string& json, std::uint64_t policy = 0x502,
                      std::uint8_t guard = 1) {
    Report r = genuine("chipA");
    r.policy = policy;
    r.guard_mode = guard;
    Expectations e = all_expectations();
    e.policy = policy_from(json);
    return verify(signed_by(r, "chipA"), "chipA.pem", &e);
  };
  const std::string chip_a = to_hex(genuine("chipA").chip_id);
  const std::string chip_b = to_hex(genuine("chipB").chip_id);
  const std::string all_rules = R"({"chips": [")" + chip_b + R"(", ")" + chip_a +
                                R"("], "min_guard_mode": "detect", "npt_integrity": ["merkle"],
          "required_policy_bits": "0x402", "memory_encryption_required": true})";
  expect_only_failures(appraise(all_rules), {}, {}, true);
  EXPECT_EQ(appraise(all_rules).check(CheckId::appraisal).status, CheckStatus::pass);

  auto fails_with = [&](const Verification& v, const std::string& words) {
    expect_only_failures(v, {CheckId::appraisal}, {}, true);
    EXPECT_NE(v.check(CheckId::appraisal).detail.find(words), std::string::npos)
        << v.check(CheckId::appraisal).detail;
  };
  fails_with(appraise(R"({"chips": [")" + chip_b + R"("]})"), "not in the policy's chips");
  fails_with(appraise(R"({"min_guard_mode": "isolate"})"), "below the policy's min_guard_mode");
  fails_with(appraise(R"({"npt_integrity": ["full"]})"), "NPT integrity merkle");
  fails_with(appraise(R"({"required_policy_bits": 1})"), "lacks the required bits 0x1");
  // The memory protections by name, and a missing one is named.
  fails_with(
      appraise(R"({"required_policy_bits": ["memory-integrity", "ciphertext-hiding"]})", 0x506),
      "lacks the required bits 0x8 (ciphertext-hiding)");
  EXPECT_EQ(appraise(R"({"required_policy_bits": ["memory-integrity"]})", 0x506)
                .check(CheckId::appraisal)
                .status,
            CheckStatus::pass);
  fails_with(appraise(R"({"memory_encryption_required": true})", 0x500),
             "memory encryption is off");
  // Several violations are all named.
  const Verification both =
      appraise(R"({"min_guard_mode": "isolate", "memory_encryption_required": true})", 0x500);
  expect_only_failures(both, {CheckId::appraisal}, {}, true);
  EXPECT_NE(both.check(CheckId::appraisal).detail.find("min_guard_mode"), std::string::npos);
  EXPECT_NE(both.check(CheckId::appraisal).detail.find("memory encryption"), std::string::npos);
}

TEST(AppraisalPolicyFile, MalformedPoliciesNameTheKey) {
  auto refused = [](const std::string& json, const std::string& words) {
    try {
      (void)policy_from(json);
      ADD_FAILURE() << json << " was accepted";
    } catch (const AttestError& e) {
      EXPECT_EQ(e.code(), AttestErrc::bad_policy);
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("policy.json"), std::string::npos) << e.what();
    }
  };
  refused("[1]", "JSON object");
  refused("{", "not JSON");
  refused(R"({"launch_digest": []})", "\"launch_digest\": unknown key");
  refused(R"({"launch_digests": "00"})", "\"launch_digests\": must be an array");
  refused(R"({"launch_digests": ["0011"]})", "\"launch_digests\": 0011 has 2 bytes");
  refused(R"({"chips": ["zz"]})", "\"chips\"");
  refused(R"({"min_guard_mode": "strong"})", "\"min_guard_mode\"");
  refused(R"({"npt_integrity": ["sha1"]})", "\"sha1\" is not");
  refused(R"({"required_policy_bits": -1})", "\"required_policy_bits\"");
  refused(R"({"required_policy_bits": ["debug"]})", "memory-integrity, ciphertext-hiding");
  refused(R"({"memory_encryption_required": "yes"})", "true or false");
  refused(R"({"providers": ["no-such.pem"]})", "\"providers\": no-such.pem");
  refused(R"({"disk_root": ["00"]})", "\"disk_root\": must be a hex string");
  refused(R"({"disk_root": "0011"})", "\"disk_root\": 0011 has 2 bytes; a disk root has 32");
  refused(R"({"disk_root": "zz"})", "\"disk_root\"");
  refused(R"({"min_disk_version": -1})", "\"min_disk_version\": must be a non-negative");
  refused(R"({"min_disk_version": "3"})", "\"min_disk_version\"");
  refused(R"({"min_disk_version": 1.5})", "\"min_disk_version\"");
  EXPECT_EQ(policy_from("{}").required_policy_bits, 0u);
}

TEST_P(Verifier, EarClaimsSetFollowsTheChecks) {
  Expectations e = all_expectations();
  e.policy = policy_from(R"({"min_guard_mode": "detect"})");
  const Verification good = verify(genuine("chipA").encode(), "chipA.pem", &e);
  ASSERT_TRUE(good.passed());
  const auto ear = ear_claims(good, "cvmsim test", 1700000000, "cvmsim:test");
  EXPECT_EQ(ear["eat_profile"], "tag:github.com,2023:veraison/ear");
  EXPECT_EQ(ear["iat"], 1700000000);
  EXPECT_EQ(ear["eat_nonce"], to_hex(nonce));
  const auto& sub = ear["submods"]["cvmsim-cvm"];
  // Every check passed, but the platform is a simulator: a warning, never affirming.
  EXPECT_EQ(sub["ear.status"], "warning");
  EXPECT_EQ(sub["ear.appraisal-policy-id"], "cvmsim:test");
  const auto& tv = sub["ear.trustworthiness-vector"];
  EXPECT_EQ(tv["instance-identity"], 2);
  EXPECT_EQ(tv["executables"], 3);
  EXPECT_EQ(tv["configuration"], 2);
  EXPECT_EQ(tv["hardware"], 32);
  EXPECT_EQ(tv["runtime-opaque"], 2);
  EXPECT_EQ(tv["storage-opaque"], 2);

  Report other = genuine("chipA");
  other.launch_digest = crypto::suite(GetParam()).hash(as_bytes("other firmware"));
  const auto bad = ear_claims(verify(signed_by(other, "chipA"), "chipA.pem", &e), "t", 0, "p");
  EXPECT_EQ(bad["submods"]["cvmsim-cvm"]["ear.status"], "contraindicated");
  EXPECT_EQ(bad["submods"]["cvmsim-cvm"]["ear.trustworthiness-vector"]["executables"], 33);
  const auto foreign = ear_claims(verify(genuine("chipC").encode(), "chipC.pem"), "t", 0, "p");
  EXPECT_EQ(foreign["submods"]["cvmsim-cvm"]["ear.trustworthiness-vector"]["instance-identity"],
            97);
  EXPECT_FALSE(foreign.contains("eat_nonce"));
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

TEST_P(Verifier, DiskRootAndMinimumVersion) {
  const Bytes report = with_disk("chipA", 5).encode();
  // Not asked for: both SKIP, saying what the report carries.
  Verification v = verify(report);
  expect_only_failures(v, {});
  EXPECT_NE(v.check(CheckId::disk_root).detail.find(to_hex(disk_root)), std::string::npos)
      << v.check(CheckId::disk_root).detail;
  EXPECT_NE(v.check(CheckId::disk_root).detail.find("--expect-disk-root"), std::string::npos);
  EXPECT_NE(v.check(CheckId::disk_version).detail.find("--min-disk-version"), std::string::npos);

  // The expected root and a version at or below the report's: both PASS.
  Expectations e = all_expectations();
  e.disk_root = disk_root;
  for (const std::uint64_t minimum : {std::uint64_t{0}, std::uint64_t{4}, std::uint64_t{5}}) {
    e.min_disk_version = minimum;
    v = verify(report, "chipA.pem", &e);
    expect_only_failures(v, {}, {}, false, true);
    EXPECT_TRUE(v.passed());
  }
  // Another root: the disk_root check FAILs (an expectation), naming both roots.
  Bytes other = disk_root;
  other[0] ^= 1;
  e.disk_root = other;
  v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::disk_root}, {}, false, true);
  EXPECT_EQ(v.failure(), FailureClass::expectation);
  EXPECT_NE(v.check(CheckId::disk_root).detail.find("is not the expected " + to_hex(other)),
            std::string::npos)
      << v.check(CheckId::disk_root).detail;
  // A newer minimum: a rolled-back image.
  e.disk_root = disk_root;
  e.min_disk_version = 6;
  v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::disk_version}, {}, false, true);
  EXPECT_NE(v.check(CheckId::disk_version).detail.find("disk version 5 is below the minimum 6"),
            std::string::npos)
      << v.check(CheckId::disk_version).detail;
  // The largest version is just a number.
  e.min_disk_version = std::numeric_limits<std::uint64_t>::max();
  expect_only_failures(
      verify(with_disk("chipA", e.min_disk_version.value()).encode(), "chipA.pem", &e), {}, {},
      false, true);
}

TEST_P(Verifier, DiskExpectationsFailAReportWithoutAnAuthenticatedImage) {
  const Bytes report = genuine("chipA").encode();  // no authenticated image
  Expectations e = all_expectations();
  e.disk_root = disk_root;
  e.min_disk_version = 0;  // even the least version needs an authenticated image
  const Verification v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::disk_root, CheckId::disk_version});
  EXPECT_EQ(v.failure(), FailureClass::expectation);
  for (CheckId id : {CheckId::disk_root, CheckId::disk_version}) {
    EXPECT_NE(v.check(id).detail.find("no authenticated disk image"), std::string::npos)
        << v.check(id).detail;
  }
  // Each option alone fails its own check only.
  Expectations root_only = all_expectations();
  root_only.disk_root = disk_root;
  expect_only_failures(verify(report, "chipA.pem", &root_only), {CheckId::disk_root});
  Expectations version_only = all_expectations();
  version_only.min_disk_version = 1;
  expect_only_failures(verify(report, "chipA.pem", &version_only), {CheckId::disk_version});
}

TEST_P(Verifier, AppraisalPolicyDiskRules) {
  const Bytes report = with_disk("chipA", 5).encode();
  Expectations e = all_expectations();
  e.policy = policy_from(
      fmt::format(R"({{"disk_root": "{}", "min_disk_version": 5}})", to_hex(disk_root)));
  expect_only_failures(verify(report, "chipA.pem", &e), {}, {}, true, true);

  Bytes other = disk_root;
  other[31] ^= 1;
  e.policy = policy_from(fmt::format(R"({{"disk_root": "{}"}})", to_hex(other)));
  Verification v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::disk_root}, {CheckId::disk_version}, true, true);
  EXPECT_NE(v.check(CheckId::disk_root).detail.find("policy's disk_root"), std::string::npos);

  e.policy = policy_from(R"({"min_disk_version": 9})");
  v = verify(report, "chipA.pem", &e);
  expect_only_failures(v, {CheckId::disk_version}, {CheckId::disk_root}, true, true);
  EXPECT_NE(v.check(CheckId::disk_version).detail.find("policy's min_disk_version 9"),
            std::string::npos);
  // Given both, both must hold: the option passes, the policy does not.
  e.min_disk_version = 3;
  expect_only_failures(verify(report, "chipA.pem", &e), {CheckId::disk_version},
                       {CheckId::disk_root}, true, true);
  // Without an authenticated image, the policy's rules fail too.
  e.min_disk_version.reset();
  expect_only_failures(verify(genuine("chipA").encode(), "chipA.pem", &e), {CheckId::disk_version},
                       {CheckId::disk_root}, true, true);
}

TEST_P(Verifier, EarFileSystemClaimFollowsTheDiskChecks) {
  auto file_system = [&](const Report& r, const Expectations& e) {
    const auto ear = ear_claims(verify(r.encode(), "chipA.pem", &e), "t", 0, "p");
    return ear["submods"]["cvmsim-cvm"]["ear.trustworthiness-vector"]["file-system"].get<int>();
  };
  Expectations e = all_expectations();
  EXPECT_EQ(file_system(with_disk("chipA"), e), 0);  // not asked: no claim
  e.disk_root = disk_root;
  e.min_disk_version = 5;
  EXPECT_EQ(file_system(with_disk("chipA"), e), 2);      // approved
  EXPECT_EQ(file_system(genuine("chipA"), e), 32);       // no authenticated image
  EXPECT_EQ(file_system(with_disk("chipA", 4), e), 96);  // rolled back
  e.disk_root = Bytes(kDiskRootSize, 7);
  e.min_disk_version.reset();
  EXPECT_EQ(file_system(with_disk("chipA"), e), 32);  // another root
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
  EXPECT_EQ(fields.at("disk_integrity"), "none");
  EXPECT_EQ(fields.at("disk_root"), std::string(2 * kDiskRootSize, '0'));
  EXPECT_EQ(fields.at("disk_version"), "0");
  fields.clear();
  for (const auto& f : describe_report(with_disk("chipA", 12))) fields[f.name] = f.value;
  EXPECT_EQ(fields.at("disk_integrity"), "authenticated");
  EXPECT_EQ(fields.at("disk_root"), to_hex(disk_root));
  EXPECT_EQ(fields.at("disk_version"), "12");
  const auto json = report_json(with_disk("chipA", 12));
  EXPECT_EQ(json["version"], 3);
  EXPECT_EQ(json["disk_root"], to_hex(disk_root));
  EXPECT_EQ(json["disk_version"], 12);
  EXPECT_EQ(json["disk_integrity"], "authenticated");
}

INSTANTIATE_TEST_SUITE_P(Suites, Verifier, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::attest
