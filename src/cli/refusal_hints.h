// Turning PSP refusals into something a person can act on, on the host side of a run: the
// PSP says only "measurement_mismatch" or "bad_certificate, none_for_chip"; the host has
// the firmware, the reference, the image and the chip, so it can show what differs
// (docs/cli.md, "PSP statuses").
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace cvmsim::cli {

struct RunInputs {
  ByteView firmware;
  ByteView reference;
  std::string firmware_name;
  std::filesystem::path chip_dir;
  std::filesystem::path image;  // empty without --image
};

// For a refused launch: the expected (reference) and actual (firmware) launch digests when
// they differ, else "".
std::string launch_refusal_hint(const RunInputs& in);

// Every "<what> failed: PSP status N (detail M)" line a guest printed, decoded:
// [{"call", "status", "status_name", "detail", "text"}], with image chips against the
// platform's chip for none_for_chip.
nlohmann::json decode_console_refusals(std::string_view console, const RunInputs& in);

}  // namespace cvmsim::cli
