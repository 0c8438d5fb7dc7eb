#include "image/describe.h"

#include <fmt/format.h>

#include "common/hex.h"
#include "crypto/suite.h"
#include "image/base64.h"
#include "image/image_error.h"
#include "image/luks2_build.h"

namespace cvmsim::image {

nlohmann::json describe_certificate(const ImageCertificate& cert) {
  nlohmann::json measurements = nlohmann::json::array();
  for (const Bytes& digest : cert.allowed_measurements) measurements.push_back(to_hex(digest));
  const crypto::Suite& suite = crypto::suite(cert.suite);
  return {{"artifact", "image certificate"},
          {"format", "CVMSICRT version 1 (docs/formats.md)"},
          {"suite", crypto::to_string(cert.suite)},
          {"chip_id", to_hex(cert.chip_id)},
          {"cipher", to_string(cert.cipher)},
          {"key_bits", cert.key_bits},
          {"sector_size", cert.sector_size},
          {"iv_scheme", "plain64"},
          {"image_uuid", uuid_to_text(cert.image_uuid)},
          {"data_offset", cert.data_offset},
          {"data_length", cert.data_length},
          {"data_sectors", cert.data_sectors()},
          {"allowed_measurements",
           measurements.empty() ? nlohmann::json("any launch digest") : measurements},
          {"wrapped_key_bytes", cert.wrapped_key.size()},
          {"provider_key_id", to_hex(suite.hash(cert.provider_key))},
          {"signature_valid", cert.signature_valid()}};
}

nlohmann::json describe_image(const Luks2Header& header, std::string_view source) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& [id, token] : header.metadata["tokens"].items()) {
    nlohmann::json entry{{"token", id}, {"type", token.value("type", "?")}};
    if (entry["type"] == kImageTokenType) {
      const auto cert_text = token.find("certificate");
      const auto decoded = cert_text != token.end() && cert_text->is_string()
                               ? base64_decode(cert_text->get<std::string>())
                               : std::nullopt;
      if (!decoded) {
        entry["error"] = "no base64 \"certificate\" string";
      } else {
        try {
          const ImageCertificate cert =
              ImageCertificate::decode(*decoded, fmt::format("{} token {}", source, id));
          entry["certificate"] = describe_certificate(cert);
          entry["token_chip_id"] = token.value("chip_id", "");
          const bool agrees = uuid_to_text(cert.image_uuid) == header.uuid_text;
          entry["uuid_matches_header"] = agrees;
        } catch (const ImageError& e) {
          entry["error"] = e.what();
        }
      }
    }
    tokens.push_back(std::move(entry));
  }
  const nlohmann::json segment{
      {"note", "unauthenticated LUKS2 JSON: the PSP uses the certificate's values instead"},
      {"encryption", header.segment_cipher},
      {"sector_size", header.segment_sector_size},
      {"offset", header.segment_offset},
      {"size", header.metadata["segments"].contains("0")
                   ? header.metadata["segments"]["0"].value("size", "?")
                   : "?"}};
  return {{"artifact", "encrypted VM image"},
          {"format", "LUKS2 (docs/formats.md \"Encrypted image\")"},
          {"uuid", header.uuid_text},
          {"header_size", header.header_size},
          {"seqid", header.seqid},
          {"segment", segment},
          {"tokens", tokens}};
}

}  // namespace cvmsim::image
