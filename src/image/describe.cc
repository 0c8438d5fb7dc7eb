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

namespace {

// A member of a host-written JSON object for display: a string as it is, any other value
// as its JSON text, `missing` when absent. Never throws on a value of the wrong type.
std::string shown(const nlohmann::json& object, std::string_view key, std::string_view missing) {
  if (!object.is_object()) return std::string(missing);
  const auto it = object.find(key);
  if (it == object.end()) return std::string(missing);
  return it->is_string() ? it->get<std::string>() : it->dump();
}

nlohmann::json describe_token(const std::string& id, const nlohmann::json& token,
                              const Luks2Header& header, std::string_view source) {
  nlohmann::json entry{{"token", id}};
  if (!token.is_object()) {
    entry["type"] = "?";
    entry["error"] = fmt::format("token {} is a JSON {}, not an object", id, token.type_name());
    return entry;
  }
  entry["type"] = shown(token, "type", "?");
  if (entry["type"] != kImageTokenType) return entry;
  const auto cert_text = token.find("certificate");
  const auto decoded = cert_text != token.end() && cert_text->is_string()
                           ? base64_decode(cert_text->get<std::string>())
                           : std::nullopt;
  if (!decoded) {
    entry["error"] = "no base64 \"certificate\" string";
    return entry;
  }
  try {
    const ImageCertificate cert =
        ImageCertificate::decode(*decoded, fmt::format("{} token {}", source, id));
    entry["certificate"] = describe_certificate(cert);
    entry["token_chip_id"] = shown(token, "chip_id", "");
    entry["uuid_matches_header"] = uuid_to_text(cert.image_uuid) == header.uuid_text;
  } catch (const ImageError& e) {
    entry["error"] = e.what();
  }
  return entry;
}

}  // namespace

nlohmann::json describe_image(const Luks2Header& header, std::string_view source) {
  // parse_luks2_header checked that "tokens" and "segments" are objects; everything in
  // them is the host's to write, so each value's type is checked before it is read.
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& [id, token] : header.metadata.at("tokens").items()) {
    tokens.push_back(describe_token(id, token, header, source));
  }
  const nlohmann::json& segments = header.metadata.at("segments");
  const auto segment0 = segments.find("0");
  const nlohmann::json segment{
      {"note", "unauthenticated LUKS2 JSON: the PSP uses the certificate's values instead"},
      {"encryption", header.segment_cipher},
      {"sector_size", header.segment_sector_size},
      {"offset", header.segment_offset},
      {"size", segment0 == segments.end() ? "?" : shown(*segment0, "size", "?")}};
  return {{"artifact", "encrypted VM image"},
          {"format", "LUKS2 (docs/formats.md \"Encrypted image\")"},
          {"uuid", header.uuid_text},
          {"header_size", header.header_size},
          {"seqid", header.seqid},
          {"segment", segment},
          {"tokens", tokens}};
}

}  // namespace cvmsim::image
