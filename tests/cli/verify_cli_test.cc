// cvmsim verify as a tenant runs it: PASS/FAIL per check, JSON with hex strings, and the
// documented exit codes for each attack; plus the documented openssl commands that check a
// report signature independently (docs/formats.md, "Verifying a report").
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "attest/report.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/reference.h"
#include "pki/certificate.h"
#include "psp/chip_fuses.h"
#include "support/documented_snippet.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

using test::CommandResult;
using test::run_cli;
using test::run_command;

constexpr int kBadInput = 1;
constexpr int kUsage = 2;
constexpr int kBadSignature = 3;
constexpr int kBadChain = 4;
constexpr int kExpectation = 5;

class VerifyCli : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string suite = GetParam();
    run_ok({"vendor", "init", "--suite", suite, path("vendor")});
    run_ok({"vendor", "init", "--suite", suite, path("other-vendor")});
    run_ok({"chip", "new", "--vendor", path("vendor"), path("chipA")});
    run_ok({"chip", "new", "--vendor", path("vendor"), path("chipB")});
    run_ok({"chip", "new", "--vendor", path("other-vendor"), path("chipC")});
    for (const char* chip : {"chipA", "chipB", "chipC"}) {
      run_ok({"chip", "export", path(chip), "--out", path(std::string(chip) + ".pem")});
    }
    run_ok({"provider", "init", "--suite", suite, path("provider")});
    run_ok({"provider", "init", "--suite", suite, path("other-provider")});
    const std::string firmware = std::string(CVMSIM_GUEST_DIR) + "/hello.bin";
    const std::string measured = run_ok({"measure", "--suite", suite, firmware}).out;
    measurement = measured.substr(0, measured.find(' '));
    nonce = to_hex(crypto::random_bytes(attest::kReportDataSize));
    write_file_atomic(dir / "report.bin", make_report("chipA", from_hex(nonce)));
  }

  CommandResult run_ok(const std::vector<std::string>& args) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r;
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }

  // The report the PSP of `chip` signs for a VM launched from the measured firmware.
  // With a `disk_root`, the VM runs from an authenticated image at `disk_version`.
  Bytes make_report(const std::string& chip, ByteView report_data,
                    const std::string& provider = "provider", std::uint64_t policy = 0x502,
                    const Bytes& disk_root = {}, std::uint64_t disk_version = 0) const {
    const psp::ChipFuses fuses = psp::load_chip_fuses(dir / chip);
    attest::Report r;
    if (!disk_root.empty()) {
      r.disk_integrity = attest::DiskIntegrity::authenticated;
      r.disk_root = disk_root;
      r.disk_version = disk_version;
    }
    r.psp_version = 0x010000;
    r.chip_id = fuses.identity.chip_id;
    r.policy = policy;
    r.launch_digest = from_hex(measurement);
    r.firmware_check = attest::FirmwareCheck::matched;
    r.certificate_check = attest::CertificateCheck::none;
    r.guard_mode = 1;
    r.npt_integrity = attest::NptIntegrityState::intact;
    r.dram_alias_check = attest::DramAliasCheck::passed;
    r.asid = 1;
    r.provider_key_id = measure::provider_key_id(
        pki::Certificate::parse(read_file(dir / provider / "provider.pem"), provider).public_key());
    std::copy(report_data.begin(), report_data.end(), r.report_data.begin());
    attest::sign_report(r, fuses.attestation_key);
    return r.encode();
  }

  // `cvmsim verify` of `report` with every expectation; `options` replaces or adds options
  // (an empty value drops one).
  CommandResult verify(const std::string& report,
                       const std::map<std::string, std::string>& options = {},
                       const std::string& chain = "chipA.pem") const {
    std::map<std::string, std::string> all{
        {"--chain", path(chain)},
        {"--root", path("vendor") + "/root.pem"},
        {"--nonce", nonce},
        {"--expect-measurement", measurement},
        {"--expect-provider", path("provider") + "/provider.pem"}};
    for (const auto& [option, value] : options) all[option] = value;
    std::vector<std::string> args{"verify", path(report)};
    for (const auto& [option, value] : all) {
      if (value.empty()) continue;
      args.push_back(option);
      args.push_back(value);
    }
    return run_cli(args);
  }

  void write_flipped(const std::string& name, std::size_t offset) const {
    Bytes bytes = read_file(dir / "report.bin");
    bytes.at(offset) ^= 0x01;
    write_file_atomic(dir / name, bytes);
  }

  test::TempDir dir;
  std::string measurement;
  std::string nonce;
};

// The failing run names `check` on stderr and on its FAIL line.
void expect_failed(const CommandResult& r, int code, const std::string& check) {
  EXPECT_EQ(r.exit_code, code) << r.out << r.err;
  EXPECT_NE(r.err.find("verify FAILED"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(check), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("FAIL  " + check), std::string::npos) << r.out;
}

TEST_P(VerifyCli, GenuineReportPassesWithTextAndJson) {
  auto r = verify("report.bin");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  for (const char* check : {"format", "simulator", "chain", "chip_id", "signature", "nonce",
                            "measurement", "provider", "firmware", "npt_integrity"}) {
    EXPECT_NE(r.out.find(std::string("PASS  ") + check), std::string::npos) << check << r.out;
  }
  EXPECT_NE(r.out.find("SKIP  certificate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SKIP  disk_root"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SKIP  disk_version"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SKIP  appraisal"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("UNCHECKED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SIMULATED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("result: PASS"), std::string::npos) << r.out;

  r = verify("report.bin", {{"-o", "json"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["result"], "PASS");
  EXPECT_EQ(doc["exit_code"], 0);
  EXPECT_EQ(doc["simulated"], true);
  EXPECT_EQ(doc["report"]["launch_digest"], measurement);
  EXPECT_EQ(doc["report"]["report_data"], nonce);
  EXPECT_EQ(doc["report"]["chip_id"], to_hex(psp::load_chip_fuses(dir / "chipA").identity.chip_id));
  // Typed: numbers as numbers, flags as booleans.
  EXPECT_EQ(doc["report"]["asid"], 1);
  EXPECT_EQ(doc["report"]["policy"], 0x502);
  EXPECT_EQ(doc["report"]["simulated"], true);
  EXPECT_EQ(doc["report"]["version"], 3);
  EXPECT_EQ(doc["report"]["disk_integrity"], "none");
  EXPECT_EQ(doc["report"]["disk_root"], std::string(64, '0'));
  EXPECT_EQ(doc["report"]["disk_version"], 0);
  EXPECT_EQ(doc["report"]["policy_decoded"],
            "guard=detect,integrity=merkle,memory-encryption=on,debug=off");
  EXPECT_TRUE(doc["report"]["signature_length"].is_number_unsigned());
  ASSERT_EQ(doc["checks"].size(), 14u);
  EXPECT_TRUE(doc["unchecked"].empty());
  for (const auto& check : doc["checks"]) {
    EXPECT_TRUE(check["status"] == "PASS" || check["status"] == "SKIP") << check.dump();
  }
}

TEST_P(VerifyCli, ChangedByteInHeaderBodyOrSignatureIsABadSignature) {
  // The last byte of the DER signature: its length L is at offset 320, the DER at 322.
  const Bytes report = read_file(dir / "report.bin");
  const std::size_t signature_end = 322 + (report.at(320) | std::size_t{report.at(321)} << 8);
  for (const auto& [name, offset] : std::vector<std::pair<std::string, std::size_t>>{
           {"header.bin", 12}, {"body.bin", 145}, {"signature.bin", signature_end - 1}}) {
    write_flipped(name, offset);
    expect_failed(verify(name), kBadSignature, "signature");
  }
  // The magic: no longer a report at all (bad input).
  write_flipped("magic.bin", 0);
  const auto r = verify("magic.bin");
  expect_failed(r, kBadInput, "format");
  EXPECT_NE(r.out.find("CVMSRPT1"), std::string::npos) << r.out;
}

TEST_P(VerifyCli, ReportFromAnotherChipIsRefused) {
  write_file_atomic(dir / "b.bin", make_report("chipB", from_hex(nonce)));
  const auto r = verify("b.bin");
  expect_failed(r, kBadSignature, "chip_id");
  EXPECT_NE(r.out.find("FAIL  signature"), std::string::npos) << r.out;
  // With chip B's own chain the same report passes.
  EXPECT_EQ(verify("b.bin", {}, "chipB.pem").exit_code, 0);
}

TEST_P(VerifyCli, OldNonceIsAFailedExpectation) {
  write_file_atomic(dir / "old.bin", make_report("chipA", crypto::random_bytes(64)));
  expect_failed(verify("old.bin"), kExpectation, "nonce");
}

TEST_P(VerifyCli, ShortNonceIsZeroPadded) {
  const Bytes short_nonce = from_hex("00112233445566778899aabbccddeeff");
  write_file_atomic(dir / "short.bin", make_report("chipA", short_nonce));
  EXPECT_EQ(verify("short.bin", {{"--nonce", "00112233445566778899aabbccddeeff"}}).exit_code, 0);
  expect_failed(verify("short.bin", {{"--nonce", "00112233445566778899aabbccddeefe"}}),
                kExpectation, "nonce");
}

TEST_P(VerifyCli, UnexpectedMeasurementOrProviderIsAFailedExpectation) {
  const std::string other(measurement.size(), 'a');
  expect_failed(verify("report.bin", {{"--expect-measurement", other}}), kExpectation,
                "measurement");
  expect_failed(
      verify("report.bin", {{"--expect-provider", path("other-provider") + "/provider.pem"}}),
      kExpectation, "provider");
  // A provider's bare public key works as well as its certificate.
  const auto key = run_command({"openssl", "x509", "-in", path("provider") + "/provider.pem",
                                "-pubkey", "-noout", "-out", path("provider.pub")});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  EXPECT_EQ(verify("report.bin", {{"--expect-provider", path("provider.pub")}}).exit_code, 0);
}

TEST_P(VerifyCli, ChainThatDoesNotLeadToTheRootIsABadChain) {
  write_file_atomic(dir / "c.bin", make_report("chipC", from_hex(nonce)));
  auto r = verify("c.bin", {}, "chipC.pem");
  expect_failed(r, kBadChain, "chain");
  EXPECT_NE(r.out.find("SKIP  signature"), std::string::npos) << r.out;
  // Both roots have the same subject; their key fingerprints tell them apart.
  auto key_of = [&](const std::string& vendor) {
    return to_hex(
        pki::Certificate::parse(read_file(dir / vendor / "root.pem"), vendor).key_fingerprint());
  };
  EXPECT_NE(key_of("vendor"), key_of("other-vendor"));
  // The documented openssl command gives the same fingerprint (docs/cli.md, "Errors").
  const auto openssl =
      run_command({"sh", "-c",
                   "openssl x509 -in '" + path("vendor") +
                       "/root.pem' -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"});
  ASSERT_EQ(openssl.exit_code, 0) << openssl.err;
  EXPECT_EQ(openssl.out.substr(0, 64), key_of("vendor"));
  EXPECT_NE(r.out.find("chip chain root 'CN="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(key SHA-256 " + key_of("other-vendor") +
                       ") is not the trusted vendor "
                       "root"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(key SHA-256 " + key_of("vendor") + ")"), std::string::npos) << r.out;
  r = verify("report.bin", {{"-o", "json"}}, "chipC.pem");
  EXPECT_EQ(r.exit_code, kBadChain);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["failure"], "bad_chain");
  ASSERT_EQ(doc["failed_checks"].size(), 1u);  // the signature cannot even be tried
  EXPECT_EQ(doc["failed_checks"][0], "chain");
}

TEST_P(VerifyCli, UsageErrorsAndThePinnedRoot) {
  const std::string report = path("report.bin");
  const std::string chain = path("chipA.pem");
  const std::string root = path("vendor") + "/root.pem";
  EXPECT_EQ(run_cli({"verify", report}).exit_code, kUsage);  // no --chain
  EXPECT_EQ(
      run_cli({"verify", report, "--chain", chain, "--root", root, "--nonce", "xyz"}).exit_code,
      kUsage);
  EXPECT_EQ(run_cli({"verify", report, "--chain", chain, "--root", root, "--nonce",
                     std::string(130, 'a')})
                .exit_code,
            kUsage);
  EXPECT_EQ(
      run_cli({"verify", report, "--chain", chain, "--root", root, "--expect-measurement", "abcd"})
          .exit_code,
      kUsage);
  // No --root and no pinned root: refused, never trusting the chain's own root.
  auto r = run_command(
      {"env", "-u", "CVMSIM_VENDOR_ROOT", CVMSIM_CLI_PATH, "verify", report, "--chain", chain});
  EXPECT_EQ(r.exit_code, kUsage) << r.out << r.err;
  EXPECT_NE(r.err.find("CVMSIM_VENDOR_ROOT"), std::string::npos) << r.err;
  // The pinned root stands in for --root, and still refuses a chain of another vendor.
  r = run_command({"env", "CVMSIM_VENDOR_ROOT=" + root, CVMSIM_CLI_PATH, "verify", report,
                   "--chain", chain, "--nonce", nonce, "--expect-measurement", measurement,
                   "--expect-provider", path("provider") + "/provider.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_command({"env", "CVMSIM_VENDOR_ROOT=" + path("other-vendor") + "/root.pem",
                   CVMSIM_CLI_PATH, "verify", report, "--chain", chain});
  EXPECT_EQ(r.exit_code, kBadChain) << r.out << r.err;
}

TEST_P(VerifyCli, AReportCheckedAgainstNothingDoesNotPass) {
  // The README's old command: chain and root only.
  auto r = verify("report.bin",
                  {{"--nonce", ""}, {"--expect-measurement", ""}, {"--expect-provider", ""}});
  EXPECT_EQ(r.exit_code, kExpectation) << r.out << r.err;
  EXPECT_EQ(r.out.find("result: PASS"), std::string::npos) << r.out;
  for (const char* check : {"nonce", "measurement", "provider"}) {
    EXPECT_NE(r.out.find(std::string("FAIL  ") + check), std::string::npos) << check << r.out;
  }
  EXPECT_NE(r.out.find("no nonce given (--nonce)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--allow-unchecked"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("verify FAILED: nonce, measurement, provider"), std::string::npos) << r.err;
  // Only the nonce missing: the message names only the nonce.
  r = verify("report.bin", {{"--nonce", ""}});
  EXPECT_EQ(r.exit_code, kExpectation) << r.out << r.err;
  EXPECT_NE(r.err.find("verify FAILED: nonce ("), std::string::npos) << r.err;

  // --allow-unchecked accepts it, and the result says what was not checked.
  auto args = std::vector<std::string>{
      "verify", path("report.bin"),      "--chain",           path("chipA.pem"),
      "--root", path("vendor/root.pem"), "--allow-unchecked", "-o",
      "json"};
  r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["unchecked"], nlohmann::json::array({"nonce", "measurement", "provider"}));
  args.resize(args.size() - 2);
  r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SKIP  nonce"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UNCHECKED: nonce, measurement, provider (--allow-unchecked)"),
            std::string::npos)
      << r.out;
}

TEST_P(VerifyCli, AppraisalPolicyFile) {
  // The expectations from a policy file, the provider named relative to the file.
  write_text_file_atomic(dir / "policy.json", R"({"launch_digests": [")" + measurement +
                                                  R"("], "providers": ["provider/provider.pem"],
                            "min_guard_mode": "detect", "memory_encryption_required": true})");
  const std::map<std::string, std::string> by_policy{
      {"--expect-measurement", ""}, {"--expect-provider", ""}, {"--policy", path("policy.json")}};
  auto r = verify("report.bin", by_policy);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  appraisal"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS  measurement"), std::string::npos) << r.out;

  write_text_file_atomic(dir / "strict.json", R"({"min_guard_mode": "isolate"})");
  r = verify("report.bin", {{"--policy", path("strict.json")}});
  expect_failed(r, kExpectation, "appraisal");
  EXPECT_NE(r.out.find("NPT guard mode detect is below the policy's min_guard_mode isolate"),
            std::string::npos)
      << r.out;

  write_text_file_atomic(dir / "typo.json", R"({"min_guard": "isolate"})");
  r = verify("report.bin", {{"--policy", path("typo.json")}});
  EXPECT_EQ(r.exit_code, kBadInput) << r.out << r.err;
  EXPECT_NE(r.err.find("cvmsim: error [attest/bad_policy]: " + path("typo.json") +
                       ": \"min_guard\": unknown key"),
            std::string::npos)
      << r.err;
}

// verify --require: the memory protections a tenant demands must be in the signed policy.
TEST_P(VerifyCli, RequiredProtectionsFailAReportWithoutThem) {
  const std::map<std::string, std::string> both{
      {"--require", "memory-integrity,ciphertext-hiding"}};
  auto r = verify("report.bin", both);  // policy 0x502: neither bit
  expect_failed(r, kExpectation, "appraisal");
  EXPECT_NE(r.out.find("memory-integrity"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ciphertext-hiding"), std::string::npos) << r.out;

  constexpr std::uint64_t kIntegrity = 0x4, kHiding = 0x8;
  write_file_atomic(dir / "integrity.bin",
                    make_report("chipA", from_hex(nonce), "provider", 0x502 | kIntegrity));
  r = verify("integrity.bin", both);
  expect_failed(r, kExpectation, "appraisal");
  EXPECT_NE(r.out.find("ciphertext-hiding"), std::string::npos) << r.out;
  r = verify("integrity.bin", {{"--require", "memory-integrity"}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  appraisal"), std::string::npos) << r.out;

  write_file_atomic(dir / "both.bin", make_report("chipA", from_hex(nonce), "provider",
                                                  0x502 | kIntegrity | kHiding));
  r = verify("both.bin", {{"--require", "memory-integrity,ciphertext-hiding"}, {"-o", "json"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["result"], "PASS");
  const std::string decoded = doc["report"]["policy_decoded"];
  EXPECT_NE(decoded.find("memory-integrity=on"), std::string::npos) << decoded;
  EXPECT_NE(decoded.find("ciphertext-hiding=on"), std::string::npos) << decoded;

  r = verify("both.bin", {{"--require", "memory-integrity,rollback-proof"}});
  EXPECT_EQ(r.exit_code, kUsage) << r.out << r.err;
  EXPECT_NE(r.err.find("rollback-proof"), std::string::npos) << r.err;
}

// --expect-disk-root and --min-disk-version: the report must carry an authenticated image
// with that root, at that version or later.
TEST_P(VerifyCli, DiskRootAndMinimumVersion) {
  const Bytes root = crypto::random_bytes(attest::kDiskRootSize);
  write_file_atomic(dir / "disk.bin",
                    make_report("chipA", from_hex(nonce), "provider", 0x502, root, 7));
  auto r = verify("disk.bin", {{"--expect-disk-root", to_hex(root)}, {"--min-disk-version", "7"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  disk_root"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS  disk_version"), std::string::npos) << r.out;
  // The report's fields, in text and JSON.
  EXPECT_NE(r.out.find("disk_integrity      authenticated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("disk_root           " + to_hex(root)), std::string::npos) << r.out;
  r = verify("disk.bin", {{"--expect-disk-root", to_hex(root)}, {"-o", "json"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["report"]["disk_root"], to_hex(root));
  EXPECT_EQ(doc["report"]["disk_version"], 7);
  EXPECT_EQ(doc["report"]["disk_integrity"], "authenticated");
  EXPECT_TRUE(doc["unchecked"].empty());  // opt-in checks: a SKIP is not "unchecked"

  // Another root; a newer minimum (a rolled-back disk).
  Bytes other = root;
  other[5] ^= 0x40;
  r = verify("disk.bin", {{"--expect-disk-root", to_hex(other)}});
  expect_failed(r, kExpectation, "disk_root");
  EXPECT_NE(r.out.find("is not the expected " + to_hex(other)), std::string::npos) << r.out;
  r = verify("disk.bin", {{"--min-disk-version", "8"}});
  expect_failed(r, kExpectation, "disk_version");
  EXPECT_NE(r.out.find("disk version 7 is below the minimum 8"), std::string::npos) << r.out;
  r = verify("disk.bin", {{"--min-disk-version", "8"}, {"-o", "json"}});
  EXPECT_EQ(r.exit_code, kExpectation);
  EXPECT_EQ(nlohmann::json::parse(r.out)["failed_checks"], nlohmann::json::array({"disk_version"}));

  // A report without an authenticated image fails both options.
  r = verify("report.bin", {{"--expect-disk-root", to_hex(root)}, {"--min-disk-version", "0"}});
  expect_failed(r, kExpectation, "disk_root");
  EXPECT_NE(r.err.find("verify FAILED: disk_root, disk_version ("), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("no authenticated disk image"), std::string::npos) << r.out;

  // The appraisal policy's keys do the same.
  write_text_file_atomic(dir / "disk-policy.json",
                         R"({"disk_root": ")" + to_hex(root) + R"(", "min_disk_version": 7})");
  EXPECT_EQ(verify("disk.bin", {{"--policy", path("disk-policy.json")}}).exit_code, 0);
  expect_failed(verify("report.bin", {{"--policy", path("disk-policy.json")}}), kExpectation,
                "disk_root");

  // Bad values are usage errors naming the option.
  for (const std::string& bad : std::vector<std::string>{"xyz", "0011", std::string(66, 'a')}) {
    r = verify("disk.bin", {{"--expect-disk-root", bad}});
    EXPECT_EQ(r.exit_code, kUsage) << bad << r.out << r.err;
    EXPECT_NE(r.err.find("--expect-disk-root"), std::string::npos) << r.err;
  }
  for (const std::string& bad :
       std::vector<std::string>{"-1", "seven", "7x", "18446744073709551616", " 7"}) {
    r = verify("disk.bin", {{"--min-disk-version", bad}});
    EXPECT_EQ(r.exit_code, kUsage) << bad << r.out << r.err;
    EXPECT_NE(r.err.find("--min-disk-version"), std::string::npos) << r.err;
  }
  EXPECT_EQ(verify("disk.bin", {{"--min-disk-version", "0"}}).exit_code, 0);
}

TEST_P(VerifyCli, EarClaimsSetBesideTheNativeOutput) {
  auto r = verify("report.bin", {{"--ear-out", path("ear.json")}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("result: PASS"), std::string::npos) << r.out;
  auto ear = nlohmann::json::parse(read_text_file(dir / "ear.json"));
  EXPECT_EQ(ear["eat_profile"], "tag:github.com,2023:veraison/ear");
  EXPECT_TRUE(ear["iat"].is_number_integer());
  EXPECT_EQ(ear["submods"]["cvmsim-cvm"]["ear.status"], "warning");  // simulated hardware
  EXPECT_EQ(ear["submods"]["cvmsim-cvm"]["ear.appraisal-policy-id"], "cvmsim:default");

  write_file_atomic(dir / "old.bin", make_report("chipA", crypto::random_bytes(64)));
  r = verify("old.bin", {{"--ear-out", path("ear.json")}});
  EXPECT_EQ(r.exit_code, kExpectation);
  ear = nlohmann::json::parse(read_text_file(dir / "ear.json"));
  EXPECT_EQ(ear["submods"]["cvmsim-cvm"]["ear.status"], "contraindicated");

  // The EAR never replaces an input.
  const Bytes before = read_file(dir / "report.bin");
  r = verify("report.bin", {{"--ear-out", path("report.bin")}});
  EXPECT_EQ(r.exit_code, kUsage) << r.err;
  EXPECT_EQ(read_file(dir / "report.bin"), before);
}

TEST_P(VerifyCli, InspectRecognisesReports) {
  const auto r = run_cli({"inspect", path("report.bin"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::ordered_json::parse(r.out);
  EXPECT_EQ(doc["artifact"], "attestation report");
  EXPECT_EQ(doc["launch_digest"], measurement);
  EXPECT_EQ(doc["asid"], 1);
  EXPECT_EQ(doc["dram_alias_check"], "passed");  // the PSP probed for DRAM aliases at boot
  EXPECT_EQ(doc["format"], "CVMSRPT1 version 3 (docs/formats.md)");
  EXPECT_EQ(doc["disk_integrity"], "none");
  // The fields in the format's order (docs/formats.md, "Attestation report").
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc.items()) keys.push_back(key);
  const std::vector<std::string> format_order{"magic",
                                              "version",
                                              "suite",
                                              "simulated",
                                              "psp_version",
                                              "chip_id",
                                              "disk_root",
                                              "disk_version",
                                              "disk_integrity",
                                              "policy",
                                              "policy_decoded",
                                              "launch_digest",
                                              "firmware_check",
                                              "certificate_check",
                                              "guard_mode",
                                              "npt_integrity",
                                              "asid",
                                              "certificate_digest",
                                              "provider_key_id",
                                              "report_data",
                                              "dram_alias_check",
                                              "signature_length",
                                              "signature"};
  std::vector<std::string> report_keys;
  for (const auto& key : keys) {
    if (std::find(format_order.begin(), format_order.end(), key) != format_order.end()) {
      report_keys.push_back(key);
    }
  }
  EXPECT_EQ(report_keys, format_order);
  EXPECT_EQ(keys.front(), "artifact");
  // The text form lists them in the same order.
  const auto text = run_cli({"inspect", path("report.bin")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_LT(text.out.find("guard_mode:"), text.out.find("asid:")) << text.out;
  EXPECT_LT(text.out.find("asid:"), text.out.find("certificate_digest:")) << text.out;
  // An authenticated image's root and version.
  const Bytes root = crypto::random_bytes(attest::kDiskRootSize);
  write_file_atomic(dir / "disk.bin",
                    make_report("chipA", from_hex(nonce), "provider", 0x502, root, 42));
  const auto disk = run_cli({"inspect", path("disk.bin")});
  ASSERT_EQ(disk.exit_code, 0) << disk.err;
  EXPECT_NE(disk.out.find("disk_root: " + to_hex(root)), std::string::npos) << disk.out;
  EXPECT_NE(disk.out.find("disk_version: 42"), std::string::npos) << disk.out;
  EXPECT_NE(disk.out.find("disk_integrity: authenticated"), std::string::npos) << disk.out;
}

// The shell snippet that follows `<!-- MARKER -->` in docs/formats.md.
std::string documented_snippet(const std::string& marker) {
  return test::documented_snippet(std::string(CVMSIM_SOURCE_DIR) + "/docs/formats.md", marker);
}

TEST_P(VerifyCli, DocumentedOpensslCommandsVerifyTheSignature) {
  const std::string common = documented_snippet("report-openssl-extract");
  const std::string check = documented_snippet("report-openssl-" + GetParam());
  ASSERT_FALSE(common.empty());
  ASSERT_FALSE(check.empty());
  const std::string script = "set -e\ncd '" + dir.path().string() + "'\n" + common + check;
  write_file_atomic(dir / "chain.pem", read_file(dir / "chipA.pem"));
  auto r = run_command({"sh", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << script << r.out << r.err;

  // One changed byte of the signed body, and openssl refuses too.
  Bytes report = read_file(dir / "report.bin");
  report[200] ^= 0x01;
  write_file_atomic(dir / "report.bin", report);
  r = run_command({"sh", "-c", script});
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  // The other suite's command does not accept this suite's signature either.
  const std::string other =
      documented_snippet(GetParam() == "sm" ? "report-openssl-nist" : "report-openssl-sm");
  write_file_atomic(dir / "report.bin", make_report("chipA", from_hex(nonce)));
  r = run_command({"sh", "-c", "set -e\ncd '" + dir.path().string() + "'\n" + common + other});
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Suites, VerifyCli, ::testing::Values("sm", "nist"));

}  // namespace
}  // namespace cvmsim
