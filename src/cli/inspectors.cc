#include "cli/inspectors.h"

#include <fmt/format.h>

#include <string_view>

#include "attest/report.h"
#include "attest/verifier.h"
#include "common/common_error.h"
#include "common/hex.h"
#include "crypto/key.h"
#include "crypto/suite.h"
#include "image/describe.h"
#include "image/image_cert.h"
#include "image/image_file.h"
#include "image/luks2.h"
#include "measure/reference.h"
#include "pki/certificate.h"
#include "pki/identity.h"
#include "pki/pki_error.h"

namespace cvmsim::cli {
namespace {

bool starts_with(ByteView data, std::string_view prefix) {
  return data.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), data.begin(),
                    [](char c, std::uint8_t b) { return static_cast<std::uint8_t>(c) == b; });
}

nlohmann::ordered_json describe_reference(ByteView data, const std::string& source) {
  const measure::Reference ref = measure::Reference::decode(data, source);
  return {{"artifact", "reference measurement"},
          {"format", "CVMSREF1 version 1 (docs/formats.md)"},
          {"suite", crypto::to_string(ref.suite)},
          {"policy", ref.policy.to_string()},
          {"policy_bits", fmt::format("{:#x}", ref.policy.encode())},
          {"launch_digest", to_hex(ref.launch_digest)},
          {"provider_key_id", to_hex(ref.provider_key_id)},
          {"signature_bytes", ref.signature.size()},
          {"note",
           "verify the signature with: cvmsim inspect is structural only; the PSP "
           "checks it at LAUNCH_VERIFY against the provider key"}};
}

nlohmann::ordered_json describe_report(ByteView data, const std::string& source) {
  const attest::Report report = attest::Report::decode(data, source);
  nlohmann::ordered_json doc{{"artifact", "attestation report"},
                             {"format", "CVMSRPT1 version 3 (docs/formats.md)"}};
  const nlohmann::ordered_json fields = attest::report_json(report);
  for (const auto& [key, value] : fields.items()) doc[key] = value;
  doc["note"] = "structural only; check the signature and expectations with cvmsim verify";
  return doc;
}

nlohmann::ordered_json describe_key(const crypto::Key& key) {
  const crypto::Suite& s = crypto::suite(key.suite());
  return {{"artifact", key.has_private() ? "private key" : "public key"},
          {"suite", crypto::to_string(key.suite())},
          {"algorithm", key.suite() == crypto::SuiteId::sm ? "SM2" : "EC P-384"},
          {"key_id", to_hex(s.hash(key.public_der()))}};
}

nlohmann::ordered_json describe_certificate_list(const std::vector<pki::Certificate>& certs) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& cert : certs) {
    list.push_back({{"subject", cert.subject()},
                    {"issuer", cert.issuer()},
                    {"serial", cert.serial_hex()},
                    {"not_before", cert.not_before()},
                    {"not_after", cert.not_after()},
                    {"ca", cert.is_ca()},
                    {"suite", crypto::to_string(cert.public_key().suite())},
                    {"sha256", to_hex(cert.sha256_fingerprint())}});
  }
  return list;
}

nlohmann::ordered_json describe_certificates(std::vector<pki::Certificate> certs,
                                             const std::string& source) {
  nlohmann::ordered_json doc{{"artifact", certs.size() == 1 ? "certificate" : "certificate chain"},
                             {"certificates", describe_certificate_list(certs)}};
  if (certs.size() == 5) {
    // Probably a chip chain from `cvmsim chip export`: say whether it is consistent.
    try {
      const auto chip = pki::parse_chip_chain(as_bytes(pki::to_pem_bundle(certs)), source);
      doc["artifact"] = "chip certificate chain";
      doc["chip_id"] = to_hex(chip.chip_id);
      doc["suite"] = crypto::to_string(chip.suite);
      doc["chain_check"] = "consistent (signatures, roles, chip id); trust needs the vendor root";
    } catch (const pki::PkiError& e) {
      doc["chain_check"] = std::string("FAILED: ") + e.what();
    }
  }
  return doc;
}

// Whether dir/name exists. A directory that cannot be searched is an input error naming
// it, not an exception of the standard library.
bool dir_has(const std::filesystem::path& dir, const char* name) {
  std::error_code ec;
  const bool found = std::filesystem::exists(dir / name, ec);
  if (ec) {
    throw CommonError(CommonErrc::io,
                      fmt::format("cannot read directory {}: {}", dir.string(), ec.message()));
  }
  return found;
}

}  // namespace

nlohmann::ordered_json inspect_file(ByteView data, const std::string& source) {
  if (starts_with(data, "CVMSREF1")) return describe_reference(data, source);
  if (starts_with(data, "CVMSICRT")) {
    return nlohmann::ordered_json(
        image::describe_certificate(image::ImageCertificate::decode(data, source)));
  }
  if (starts_with(data, "LUKS\xba\xbe")) {
    return nlohmann::ordered_json(
        image::describe_image(image::parse_luks2_header(data, source), source));
  }
  if (starts_with(data, "CVMSRPT1")) return describe_report(data, source);
  if (contains(data, "-----BEGIN CERTIFICATE-----")) {
    return describe_certificates(pki::Certificate::parse_all(data, source), source);
  }
  if (contains(data, "PRIVATE KEY-----") || contains(data, "-----BEGIN PUBLIC KEY-----")) {
    return describe_key(crypto::Key::parse(data, source));
  }
  // DER: a certificate or a key both start with a SEQUENCE.
  if (!data.empty() && data[0] == 0x30) {
    try {
      return describe_certificates(pki::Certificate::parse_all(data, source), source);
    } catch (const pki::PkiError&) {
      try {
        return describe_key(crypto::Key::parse(data, source));
      } catch (const Error&) {
        throw pki::PkiError(
            pki::PkiErrc::bad_certificate,
            fmt::format("{}: DER that is neither an X.509 certificate nor a key", source));
      }
    }
  }
  throw CommonError(CommonErrc::bad_encoding,
                    fmt::format("{}: not a cvmsim artifact (reference, key, certificate or "
                                "identity directory); for a firmware image use `cvmsim measure`",
                                source));
}

nlohmann::ordered_json inspect_image_file(const std::filesystem::path& path) {
  // Only the header is read: images are often far larger than memory.
  return nlohmann::ordered_json(
      image::describe_image(image::read_luks2_header_file(path), path.string()));
}

bool is_image_file(const std::filesystem::path& path) {
  return image::looks_like_luks(path);
}

nlohmann::ordered_json inspect_directory(const std::filesystem::path& dir) {
  if (dir_has(dir, "chip.json")) {
    const auto chip = pki::load_chip(dir);
    return {{"artifact", "chip directory"},
            {"chip_id", to_hex(chip.chip_id)},
            {"suite", crypto::to_string(chip.suite)},
            {"vendor", chip.vendor},
            {"fuses", "private keys in fuses/ (read only by the PSP model)"},
            {"certificates", describe_certificate_list(chip.chain())}};
  }
  if (dir_has(dir, "vendor.json")) {
    const auto vendor = pki::load_vendor(dir);
    std::vector<pki::Certificate> certs;
    certs.push_back(vendor.root.clone());
    certs.push_back(vendor.signing.clone());
    return {{"artifact", "vendor directory"},
            {"name", vendor.name},
            {"suite", crypto::to_string(vendor.suite)},
            {"certificates", describe_certificate_list(certs)}};
  }
  if (dir_has(dir, "provider.json")) {
    const auto provider = pki::load_provider(dir);
    const crypto::Key key = provider.certificate.public_key();
    std::vector<pki::Certificate> certs;
    certs.push_back(provider.certificate.clone());
    return {{"artifact", "provider directory"},
            {"name", provider.name},
            {"suite", crypto::to_string(provider.suite)},
            {"provider_key_id", to_hex(measure::provider_key_id(key))},
            {"certificates", describe_certificate_list(certs)}};
  }
  throw CommonError(CommonErrc::bad_encoding,
                    fmt::format("{}: not a vendor, chip or provider directory (no vendor.json, "
                                "chip.json or provider.json)",
                                dir.string()));
}

}  // namespace cvmsim::cli
