// Chains: our verifier, OpenSSL's command-line verifier, tampering and wrong roots.
#include "pki/chain.h"

#include <gtest/gtest.h>

#include <random>

#include "common/file_io.h"
#include "crypto/suite.h"
#include "pki/identity.h"
#include "pki/pki_error.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim::pki {
namespace {

using crypto::SuiteId;

class ChainForSuite : public ::testing::TestWithParam<SuiteId> {
 protected:
  test::TempDir dir;
};

TEST_P(ChainForSuite, ChipChainVerifiesInOurCodeAndWithOpensslVerify) {
  const auto vendor = create_vendor(dir / "vendor", GetParam(), "Test Vendor", false);
  const auto chip = create_chip(dir / "vendor", dir / "chip", false);
  EXPECT_NO_THROW(chip.verify(&vendor.root));
  // The exact command docs/formats.md gives, for every exported certificate.
  const auto chain = chip.chain();
  write_text_file_atomic(dir / "root.pem", chain[0].pem());
  write_text_file_atomic(dir / "intermediates.pem", chain[1].pem() + chain[2].pem());
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto file = dir / ("cert" + std::to_string(i) + ".pem");
    write_text_file_atomic(file, chain[i].pem());
    const auto r =
        test::run_command({"openssl", "verify", "-CAfile", (dir / "root.pem").string(),
                           "-untrusted", (dir / "intermediates.pem").string(), file.string()});
    EXPECT_EQ(r.exit_code, 0) << chain[i].subject() << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find(": OK"), std::string::npos);
  }
  // The root's self-signature is genuine too.
  const auto r = test::run_command({"openssl", "verify", "-check_ss_sig", "-CAfile",
                                    (dir / "root.pem").string(), (dir / "root.pem").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_P(ChainForSuite, AnotherVendorsRootIsRefused) {
  create_vendor(dir / "a", GetParam(), "A", false);
  const auto other = create_vendor(dir / "b", GetParam(), "B", false);
  const auto chip = create_chip(dir / "a", dir / "chip", false);
  try {
    chip.verify(&other.root);
    FAIL() << "chip of vendor A accepted under vendor B's root";
  } catch (const PkiError& e) {
    EXPECT_EQ(e.code(), PkiErrc::bad_chain);
  }
  std::vector<Certificate> intermediates;
  intermediates.push_back(chip.signing.clone());
  intermediates.push_back(chip.endorsement.clone());
  EXPECT_THROW(verify_chain(other.root, intermediates, chip.attestation), PkiError);
}

TEST_P(ChainForSuite, EveryTamperedCertificateIsRefused) {
  create_vendor(dir / "vendor", GetParam(), "V", false);
  const auto chip = create_chip(dir / "vendor", dir / "chip", false);
  const Bytes der = chip.attestation.der();
  std::mt19937 rng(5);
  int checked = 0;
  for (std::size_t i = 0; i < der.size(); i += 1 + rng() % 7) {
    Bytes tampered = der;
    tampered[i] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    bool refused = false;
    try {
      const Certificate forged = Certificate::parse(tampered, "forged");
      std::vector<Certificate> intermediates;
      intermediates.push_back(chip.signing.clone());
      intermediates.push_back(chip.endorsement.clone());
      verify_chain(chip.root, intermediates, forged);
    } catch (const Error&) {
      refused = true;
    }
    EXPECT_TRUE(refused) << "byte " << i;
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

TEST_P(ChainForSuite, ExportedChainParsesFromPemAndConcatenatedDer) {
  const auto vendor = create_vendor(dir / "vendor", GetParam(), "V", false);
  const auto chip = create_chip(dir / "vendor", dir / "chip", false);
  const auto from_pem = parse_chip_chain(as_bytes(to_pem_bundle(chip.chain())), "chain.pem");
  EXPECT_EQ(from_pem.chip_id, chip.chip_id);
  Bytes der;
  for (const auto& c : chip.chain()) append(der, c.der());
  const auto from_der = parse_chip_chain(der, "chain.der");
  EXPECT_EQ(from_der.chip_id, chip.chip_id);
  EXPECT_NO_THROW(from_der.verify(&vendor.root));
  // Wrong order or a missing certificate is refused.
  auto chain = chip.chain();
  std::swap(chain[3], chain[4]);
  EXPECT_THROW((void)parse_chip_chain(as_bytes(to_pem_bundle(chain)), "swapped"), PkiError);
  chain.pop_back();
  EXPECT_THROW((void)parse_chip_chain(as_bytes(to_pem_bundle(chain)), "short"), PkiError);
}

INSTANTIATE_TEST_SUITE_P(Suites, ChainForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

TEST(Certificates, ParsersSurviveTruncatedAndRandomInput) {
  test::TempDir dir;
  create_vendor(dir / "v", SuiteId::sm, "V", false);
  const auto chip = create_chip(dir / "v", dir / "c", false);
  const std::string pem = to_pem_bundle(chip.chain());
  for (std::size_t n = 0; n < pem.size(); n += 97) {
    try {
      (void)parse_chip_chain(as_bytes(std::string_view(pem).substr(0, n)), "cut");
      ADD_FAILURE() << "truncated chain of " << n << " bytes accepted";
    } catch (const Error&) {
    }
  }
  const Bytes der = chip.endorsement.der();
  for (std::size_t n = 0; n < der.size(); n += 11) {
    EXPECT_THROW((void)Certificate::parse(ByteView(der).first(n), "cut.der"), PkiError);
  }
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    Bytes junk(static_cast<std::size_t>(rng() % 600));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (i % 3 == 0 && !junk.empty()) junk[0] = 0x30;
    EXPECT_THROW((void)Certificate::parse_all(junk, "junk"), PkiError);
  }
}

}  // namespace
}  // namespace cvmsim::pki
