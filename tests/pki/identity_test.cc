// Identity directories: layout, permissions, --force, crash safety and the fuse loader.
#include "pki/identity.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "common/file_io.h"
#include "crypto/suite.h"
#include "pki/pki_error.h"
#include "psp/chip_fuses.h"
#include "support/temp_dir.h"

namespace cvmsim::pki {
namespace {

namespace fs = std::filesystem;
using crypto::SuiteId;

TEST(Identity, ChipDirectoryHoldsPublicChainAndPrivateFuses) {
  test::TempDir dir;
  create_vendor(dir / "vendor", SuiteId::sm, "V", false);
  const auto chip = create_chip(dir / "vendor", dir / "chip", false);
  EXPECT_EQ(chip.chip_id.size(), 16u);
  for (const char* name : {"endorsement.key", "attestation.key", "wrapping.key"}) {
    const auto perms = fs::status(dir / "chip" / "fuses" / name).permissions();
    EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write) << name;
  }
  const auto reloaded = load_chip(dir / "chip");
  EXPECT_EQ(reloaded.chip_id, chip.chip_id);
  EXPECT_EQ(reloaded.vendor, "V");
}

TEST(Identity, FuseLoaderReturnsKeysMatchingTheCertificates) {
  test::TempDir dir;
  create_vendor(dir / "vendor", SuiteId::nist, "V", false);
  create_chip(dir / "vendor", dir / "chip", false);
  const auto fuses = psp::load_chip_fuses(dir / "chip");
  const crypto::Suite& s = crypto::suite(SuiteId::nist);
  const Bytes message = {1, 2, 3};
  EXPECT_TRUE(s.verify(fuses.identity.attestation.public_key(), message,
                       s.sign(fuses.attestation_key, message)));
  const Bytes secret = crypto::random_bytes(32);
  EXPECT_EQ(
      s.unwrap(fuses.wrapping_key, s.wrap(fuses.identity.wrapping.public_key(), secret, {}), {}),
      secret);
  // A fuse swapped for another key is refused.
  fs::copy_file(dir / "chip" / "fuses" / "attestation.key", dir / "chip" / "fuses" / "wrapping.key",
                fs::copy_options::overwrite_existing);
  EXPECT_THROW((void)psp::load_chip_fuses(dir / "chip"), PkiError);
}

TEST(Identity, ExistingDirectoryNeedsForceAndIsReplacedWhole) {
  test::TempDir dir;
  create_provider(dir / "p", SuiteId::sm, "First", false);
  try {
    create_provider(dir / "p", SuiteId::sm, "Second", false);
    FAIL();
  } catch (const PkiError& e) {
    EXPECT_EQ(e.code(), PkiErrc::already_exists);
  }
  EXPECT_EQ(load_provider(dir / "p").name, "First");
  create_provider(dir / "p", SuiteId::nist, "Second", true);
  const auto p = load_provider(dir / "p");
  EXPECT_EQ(p.name, "Second");
  EXPECT_EQ(p.suite, SuiteId::nist);
  EXPECT_EQ(load_provider_key(dir / "p").suite(), SuiteId::nist);
}

TEST(Identity, FailedChipCreationLeavesNothingBehind) {
  test::TempDir dir;
  create_vendor(dir / "vendor", SuiteId::sm, "V", false);
  fs::remove(dir / "vendor" / "signing.key");
  EXPECT_ANY_THROW(create_chip(dir / "vendor", dir / "chip", false));
  EXPECT_FALSE(fs::exists(dir / "chip"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);  // only the vendor directory
}

TEST(Identity, CorruptDescriptorsGetClearErrors) {
  test::TempDir dir;
  create_vendor(dir / "vendor", SuiteId::sm, "V", false);
  create_chip(dir / "vendor", dir / "chip", false);
  for (const std::string bad : {"{", "[]", R"({"format":"cvmsim-chip","version":2})",
                                R"({"format":"cvmsim-chip","version":1,"suite":"rsa"})",
                                R"({"format":"cvmsim-chip","version":1,"suite":"sm",)"
                                R"("chip_id":"zz","vendor":"V"})"}) {
    write_text_file_atomic(dir / "chip" / "chip.json", bad);
    try {
      (void)load_chip(dir / "chip");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("chip"), std::string::npos) << e.what();
    }
  }
}

// The descriptors are files anyone can edit: cut at every length, bytes changed at
// random (fixed seed), every field given a value of another JSON type. Loading may only
// refuse with PkiError naming the file, never another exception.
TEST(Identity, DescriptorsTruncatedMutatedAndMistypedOnlyGivePkiErrors) {
  test::TempDir dir;
  create_vendor(dir / "vendor", SuiteId::sm, "V", false);
  create_chip(dir / "vendor", dir / "chip", false);
  create_provider(dir / "provider", SuiteId::nist, "P", false);
  struct Descriptor {
    fs::path dir;
    std::string name;
    std::function<void()> load;
  };
  const std::vector<Descriptor> descriptors{
      {dir / "vendor", "vendor.json", [&] { (void)load_vendor(dir / "vendor"); }},
      {dir / "chip", "chip.json", [&] { (void)load_chip(dir / "chip"); }},
      {dir / "provider", "provider.json", [&] { (void)load_provider(dir / "provider"); }},
  };
  std::mt19937_64 rng(1717);
  for (const Descriptor& d : descriptors) {
    SCOPED_TRACE(d.name);
    const fs::path file = d.dir / d.name;
    const std::string original = read_text_file(file);
    const auto try_load = [&](const std::string& text) {
      write_text_file_atomic(file, text);
      try {
        d.load();
      } catch (const PkiError& e) {
        EXPECT_NE(std::string(e.what()).find(d.name), std::string::npos) << e.what();
      }
    };
    for (std::size_t n = 0; n < original.size(); ++n) try_load(original.substr(0, n));
    for (int round = 0; round < 300; ++round) {
      std::string text = original;
      for (std::uint64_t i = 0; i < 1 + rng() % 4; ++i) {
        text[rng() % text.size()] = static_cast<char>(rng() % 128);
      }
      try_load(text);
    }
    const nlohmann::json doc = nlohmann::json::parse(original);
    const std::vector<nlohmann::json> values{nullptr,
                                             1,
                                             -1,
                                             2.5,
                                             true,
                                             "",
                                             "zz",
                                             nlohmann::json::array({1, "a"}),
                                             nlohmann::json::object({{"x", 1}})};
    for (const auto& field : doc.items()) {
      for (const nlohmann::json& other : values) {
        nlohmann::json edited = doc;
        edited[field.key()] = other;
        try_load(edited.dump());
      }
    }
    write_text_file_atomic(file, original);
    EXPECT_NO_THROW(d.load());
  }
}

TEST(Identity, MismatchedProviderKeyIsRefused) {
  test::TempDir dir;
  create_provider(dir / "a", SuiteId::sm, "A", false);
  create_provider(dir / "b", SuiteId::sm, "B", false);
  fs::copy_file(dir / "b" / "provider.key", dir / "a" / "provider.key",
                fs::copy_options::overwrite_existing);
  EXPECT_THROW((void)load_provider_key(dir / "a"), PkiError);
}

}  // namespace
}  // namespace cvmsim::pki
