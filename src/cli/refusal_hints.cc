#include "cli/refusal_hints.h"

#include <fmt/format.h>

#include <regex>
#include <vector>

#include "common/error.h"
#include "common/hex.h"
#include "image/image_file.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "psp/status_detail.h"

namespace cvmsim::cli {
namespace {

// The chip ids the image's certificate tokens name (none when the header does not parse).
std::vector<std::string> image_chips(const std::filesystem::path& image) {
  std::vector<std::string> chips;
  try {
    const image::Luks2Header header = image::read_luks2_header_file(image);
    const auto tokens = header.metadata.find("tokens");
    if (tokens == header.metadata.end() || !tokens->is_object()) return chips;
    for (const auto& [id, token] : tokens->items()) {
      if (token.is_object() && token.value("type", "") == "cvmsim-image-cert" &&
          token.contains("chip_id") && token["chip_id"].is_string()) {
        chips.push_back(token["chip_id"].get<std::string>());
      }
    }
  } catch (const Error&) {
    // an unreadable header has its own refusal (no_header); nothing to compare here
  }
  return chips;
}

std::string chip_hint(const RunInputs& in) {
  if (in.image.empty()) return "";
  std::string platform = "unknown";
  try {
    platform = to_hex(pki::load_chip(in.chip_dir).chip_id);
  } catch (const Error&) {
    // keep "unknown"
  }
  const auto chips = image_chips(in.image);
  return fmt::format(
      "; the image {} has certificates for chip(s) {}, this platform is chip {}", in.image.string(),
      chips.empty() ? "(none)" : fmt::format("{}", fmt::join(chips, ", ")), platform);
}

}  // namespace

std::string launch_refusal_hint(const RunInputs& in) {
  try {
    const measure::Reference ref = measure::Reference::decode(in.reference, "reference");
    const Bytes actual = measure::measure_plan(
        measure::plan_firmware_launch(in.firmware, measure::GuestLayout{}, in.firmware_name),
        ref.suite);
    if (actual == ref.launch_digest) return "";
    return fmt::format("expected launch digest {} (the reference), actual {} ({})",
                       to_hex(ref.launch_digest), to_hex(actual), in.firmware_name);
  } catch (const Error&) {
    return "";  // the refusal itself names what does not decode
  }
}

nlohmann::json decode_console_refusals(std::string_view console, const RunInputs& in) {
  static const std::regex kLine(R"(([A-Za-z_]+) failed: PSP status (\d+)(?: \(detail (\d+)\))?)");
  nlohmann::json out = nlohmann::json::array();
  const std::string text(console);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kLine);
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    std::uint64_t number = 0;
    std::uint64_t detail = 0;
    try {
      number = std::stoull(m[2].str());
      if (m[3].matched) detail = std::stoull(m[3].str());
    } catch (const std::exception&) {
      continue;  // not a number we can decode: leave the line as the guest wrote it
    }
    psp::Status status{};
    if (!psp::status_from_number(number, status)) continue;
    const std::string call = m[1].str();
    std::string words = psp::describe_refusal(call, status, detail);
    if (status == psp::Status::bad_certificate &&
        detail == static_cast<std::uint64_t>(psp::CertRefusal::none_for_chip)) {
      words += chip_hint(in);
    }
    if (status == psp::Status::bad_certificate &&
        detail == static_cast<std::uint64_t>(psp::CertRefusal::measurement)) {
      try {
        const auto ref = measure::Reference::decode(in.reference, "reference");
        words += fmt::format("; the VM's launch digest is {}", to_hex(ref.launch_digest));
      } catch (const Error&) {
        // no digest to show
      }
    }
    out.push_back({{"call", call},
                   {"status", number},
                   {"status_name", psp::to_string(status)},
                   {"detail", m[3].matched ? nlohmann::json(detail) : nullptr},
                   {"text", words}});
  }
  return out;
}

}  // namespace cvmsim::cli
