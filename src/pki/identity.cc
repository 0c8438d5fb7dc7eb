#include "pki/identity.h"

#include <fmt/format.h>
#include <fmt/std.h>

#include "common/common_error.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "pki/chain.h"
#include "pki/identity_files.h"
#include "pki/issuer.h"
#include "pki/pki_error.h"

namespace cvmsim::pki {
namespace {

namespace fs = std::filesystem;
using crypto::SuiteId;

constexpr std::size_t kChipIdSize = 16;
constexpr int kVendorValidityDays = 25 * 365;
constexpr int kChipValidityDays = 20 * 365;
constexpr int kProviderValidityDays = 5 * 365;
constexpr unsigned kSecretMode = 0600;

Certificate load_certificate(const fs::path& file) {
  return Certificate::parse(read_file(file, 1 << 20), file.string());
}

void write_certificate(const fs::path& file, const Certificate& cert) {
  write_text_file_atomic(file, cert.pem());
}

void write_private_key(const fs::path& file, const crypto::Key& key) {
  write_text_file_atomic(file, key.private_pem(), kSecretMode);
}

crypto::Key load_private_key(const fs::path& file) {
  crypto::Key key = crypto::Key::parse(read_file(file, 1 << 16), file.string());
  if (!key.has_private()) {
    throw PkiError(PkiErrc::bad_identity, fmt::format("{}: holds no private key", file));
  }
  return key;
}

SuiteId suite_field(const nlohmann::json& doc, const fs::path& file) {
  const std::string text = detail::read_string_field(doc, "suite", file);
  if (text != "sm" && text != "nist") {
    throw PkiError(PkiErrc::bad_identity,
                   fmt::format("{}: \"suite\" is \"{}\"; expected \"sm\" or \"nist\"", file, text));
  }
  return crypto::parse_suite(text);
}

void expect_suite(const Certificate& cert, SuiteId suite, const fs::path& file) {
  if (cert.public_key().suite() != suite) {
    throw PkiError(PkiErrc::bad_identity, fmt::format("{}: certificate key is not of suite {}",
                                                      file, crypto::to_string(suite)));
  }
}

}  // namespace

std::string_view role_name(SuiteId suite, Role role) {
  const bool sm = suite == SuiteId::sm;
  switch (role) {
    case Role::root:
      return sm ? "HRK" : "ARK";
    case Role::signing:
      return sm ? "HSK" : "ASK";
    case Role::endorsement:
      return sm ? "CEK" : "VCEK";
    case Role::attestation:
      return sm ? "PEK" : "VAK";
    case Role::wrapping:
      return sm ? "PDH" : "VWK";
  }
  return "?";
}

std::vector<Certificate> ChipIdentity::chain() const {
  std::vector<Certificate> out;
  out.push_back(root.clone());
  out.push_back(signing.clone());
  out.push_back(endorsement.clone());
  out.push_back(attestation.clone());
  out.push_back(wrapping.clone());
  return out;
}

void ChipIdentity::verify(const Certificate* trusted_root) const {
  const Certificate& anchor = trusted_root != nullptr ? *trusted_root : root;
  if (trusted_root != nullptr && !same_certificate(*trusted_root, root)) {
    throw PkiError(PkiErrc::bad_chain,
                   fmt::format("chip chain root '{}' (key SHA-256 {}) is not the trusted "
                               "vendor root '{}' (key SHA-256 {})",
                               root.subject(), to_hex(root.key_fingerprint()),
                               trusted_root->subject(), to_hex(trusted_root->key_fingerprint())));
  }
  std::vector<Certificate> intermediates;
  intermediates.push_back(signing.clone());
  intermediates.push_back(endorsement.clone());
  verify_chain(anchor, intermediates, attestation);
  verify_chain(anchor, intermediates, wrapping);
  const std::string id = to_hex(chip_id);
  const std::vector<std::pair<const Certificate*, Role>> roles = {{&root, Role::root},
                                                                  {&signing, Role::signing},
                                                                  {&endorsement, Role::endorsement},
                                                                  {&attestation, Role::attestation},
                                                                  {&wrapping, Role::wrapping}};
  for (const auto& [cert, role] : roles) {
    const std::string cn = cert->common_name();
    const std::string expected(role_name(suite, role));
    if (!cn.starts_with(expected)) {
      throw PkiError(PkiErrc::bad_chain,
                     fmt::format("certificate '{}' should be the {} certificate", cn, expected));
    }
    if (cert->public_key().suite() != suite) {
      throw PkiError(PkiErrc::bad_chain, fmt::format("certificate '{}' is not of suite {}", cn,
                                                     crypto::to_string(suite)));
    }
    const bool per_chip =
        role == Role::endorsement || role == Role::attestation || role == Role::wrapping;
    if (per_chip && cn != expected + " " + id) {
      throw PkiError(PkiErrc::bad_chain,
                     fmt::format("certificate '{}' is not for chip {}", cn, id));
    }
  }
}

VendorIdentity create_vendor(const fs::path& dir, SuiteId suite, const std::string& name,
                             bool force) {
  const crypto::Suite& s = crypto::suite(suite);
  const crypto::Key root_key = s.generate_key();
  const crypto::Key signing_key = s.generate_key();
  CertificateRequest root_req{std::string(role_name(suite, Role::root)),
                              name,
                              "",
                              &root_key,
                              KeyRole::certificate_authority,
                              std::nullopt,
                              kVendorValidityDays};
  Certificate root = issue_certificate(root_req, root_key, nullptr);
  CertificateRequest signing_req{std::string(role_name(suite, Role::signing)),
                                 name,
                                 "",
                                 &signing_key,
                                 KeyRole::certificate_authority,
                                 1,
                                 kVendorValidityDays};
  Certificate signing = issue_certificate(signing_req, root_key, &root);
  detail::create_directory_atomically(dir, "vendor.json", force, [&](const fs::path& tmp) {
    write_text_file_atomic(tmp / "vendor.json", nlohmann::json{{"format", "cvmsim-vendor"},
                                                               {"version", 1},
                                                               {"suite", crypto::to_string(suite)},
                                                               {"name", name}}
                                                        .dump(2) +
                                                    "\n");
    write_certificate(tmp / "root.pem", root);
    write_private_key(tmp / "root.key", root_key);
    write_certificate(tmp / "signing.pem", signing);
    write_private_key(tmp / "signing.key", signing_key);
  });
  return {suite, name, std::move(root), std::move(signing)};
}

VendorIdentity load_vendor(const fs::path& dir) {
  const auto doc = detail::read_descriptor(dir, "vendor.json", "cvmsim-vendor");
  VendorIdentity v{suite_field(doc, dir / "vendor.json"),
                   detail::read_string_field(doc, "name", dir / "vendor.json"),
                   load_certificate(dir / "root.pem"), load_certificate(dir / "signing.pem")};
  expect_suite(v.root, v.suite, dir / "root.pem");
  verify_chain(v.root, {}, v.signing);
  return v;
}

ChipIdentity create_chip(const fs::path& vendor_dir, const fs::path& chip_dir, bool force) {
  const VendorIdentity vendor = load_vendor(vendor_dir);
  const crypto::Key signing_key = load_private_key(vendor_dir / "signing.key");
  const crypto::Suite& s = crypto::suite(vendor.suite);
  const Bytes chip_id = crypto::random_bytes(kChipIdSize);
  const std::string id = to_hex(chip_id);
  const crypto::Key endorsement_key = s.generate_key();
  const crypto::Key attestation_key = s.generate_key();
  const crypto::Key wrapping_key = s.generate_key();
  auto cn = [&](Role role) { return fmt::format("{} {}", role_name(vendor.suite, role), id); };
  Certificate endorsement =
      issue_certificate({cn(Role::endorsement), vendor.name, id, &endorsement_key,
                         KeyRole::certificate_authority, 0, kChipValidityDays},
                        signing_key, &vendor.signing);
  Certificate attestation =
      issue_certificate({cn(Role::attestation), vendor.name, id, &attestation_key, KeyRole::signing,
                         std::nullopt, kChipValidityDays},
                        endorsement_key, &endorsement);
  Certificate wrapping = issue_certificate({cn(Role::wrapping), vendor.name, id, &wrapping_key,
                                            KeyRole::key_wrapping, std::nullopt, kChipValidityDays},
                                           endorsement_key, &endorsement);
  detail::create_directory_atomically(chip_dir, "chip.json", force, [&](const fs::path& tmp) {
    write_text_file_atomic(tmp / "chip.json",
                           nlohmann::json{{"format", "cvmsim-chip"},
                                          {"version", 1},
                                          {"suite", crypto::to_string(vendor.suite)},
                                          {"chip_id", id},
                                          {"vendor", vendor.name}}
                                   .dump(2) +
                               "\n");
    write_certificate(tmp / "root.pem", vendor.root);
    write_certificate(tmp / "signing.pem", vendor.signing);
    write_certificate(tmp / "endorsement.pem", endorsement);
    write_certificate(tmp / "attestation.pem", attestation);
    write_certificate(tmp / "wrapping.pem", wrapping);
    // The simulated fuses: only the PSP model's loader reads this directory.
    fs::create_directory(tmp / "fuses");
    fs::permissions(tmp / "fuses", fs::perms::owner_all);
    write_private_key(tmp / "fuses" / "endorsement.key", endorsement_key);
    write_private_key(tmp / "fuses" / "attestation.key", attestation_key);
    write_private_key(tmp / "fuses" / "wrapping.key", wrapping_key);
  });
  return load_chip(chip_dir);
}

ChipIdentity load_chip(const fs::path& dir) {
  const fs::path file = dir / "chip.json";
  const auto doc = detail::read_descriptor(dir, "chip.json", "cvmsim-chip");
  Bytes chip_id;
  try {
    chip_id = from_hex(detail::read_string_field(doc, "chip_id", file), "chip_id");
  } catch (const CommonError& e) {
    throw PkiError(PkiErrc::bad_identity, fmt::format("{}: {}", file, e.what()));
  }
  ChipIdentity chip{suite_field(doc, file),
                    std::move(chip_id),
                    detail::read_string_field(doc, "vendor", file),
                    load_certificate(dir / "root.pem"),
                    load_certificate(dir / "signing.pem"),
                    load_certificate(dir / "endorsement.pem"),
                    load_certificate(dir / "attestation.pem"),
                    load_certificate(dir / "wrapping.pem")};
  if (chip.chip_id.size() != kChipIdSize) {
    throw PkiError(PkiErrc::bad_identity,
                   fmt::format("{}: chip_id must be {} bytes of hex", file, kChipIdSize));
  }
  try {
    chip.verify(nullptr);
  } catch (const PkiError& e) {
    // The chain check speaks of certificates; say which directory holds them.
    throw PkiError(e.code(), fmt::format("{}: {}", file, e.what()));
  }
  return chip;
}

ChipIdentity parse_chip_chain(ByteView data, std::string_view source) {
  std::vector<Certificate> certs = Certificate::parse_all(data, source);
  if (certs.size() != 5) {
    throw PkiError(PkiErrc::bad_chain,
                   fmt::format("{}: a chip chain has 5 certificates (root, signing, endorsement, "
                               "attestation, key wrapping); found {}",
                               source, certs.size()));
  }
  const SuiteId suite = certs[0].public_key().suite();
  const std::string endorsement_cn = certs[2].common_name();
  const auto space = endorsement_cn.find(' ');
  if (space == std::string::npos) {
    throw PkiError(
        PkiErrc::bad_chain,
        fmt::format("{}: endorsement certificate '{}' names no chip id", source, endorsement_cn));
  }
  Bytes chip_id = from_hex(endorsement_cn.substr(space + 1), "chip id in the endorsement CN");
  ChipIdentity chip{suite,
                    std::move(chip_id),
                    "",
                    std::move(certs[0]),
                    std::move(certs[1]),
                    std::move(certs[2]),
                    std::move(certs[3]),
                    std::move(certs[4])};
  chip.verify(nullptr);
  return chip;
}

ProviderIdentity create_provider(const fs::path& dir, SuiteId suite, const std::string& name,
                                 bool force) {
  const crypto::Key key = crypto::suite(suite).generate_key();
  Certificate cert = issue_certificate(
      {name, name, "provider", &key, KeyRole::signing, std::nullopt, kProviderValidityDays}, key,
      nullptr);
  detail::create_directory_atomically(dir, "provider.json", force, [&](const fs::path& tmp) {
    write_text_file_atomic(tmp / "provider.json",
                           nlohmann::json{{"format", "cvmsim-provider"},
                                          {"version", 1},
                                          {"suite", crypto::to_string(suite)},
                                          {"name", name}}
                                   .dump(2) +
                               "\n");
    write_certificate(tmp / "provider.pem", cert);
    write_private_key(tmp / "provider.key", key);
  });
  return {suite, name, std::move(cert)};
}

ProviderIdentity load_provider(const fs::path& dir) {
  const fs::path file = dir / "provider.json";
  const auto doc = detail::read_descriptor(dir, "provider.json", "cvmsim-provider");
  ProviderIdentity p{suite_field(doc, file), detail::read_string_field(doc, "name", file),
                     load_certificate(dir / "provider.pem")};
  expect_suite(p.certificate, p.suite, dir / "provider.pem");
  return p;
}

crypto::Key load_provider_key(const fs::path& dir) {
  const ProviderIdentity provider = load_provider(dir);
  crypto::Key key = load_private_key(dir / "provider.key");
  if (key.public_der() != provider.certificate.public_key().public_der()) {
    throw PkiError(PkiErrc::bad_identity,
                   fmt::format("{}: provider.key does not match provider.pem", dir));
  }
  return key;
}

}  // namespace cvmsim::pki
