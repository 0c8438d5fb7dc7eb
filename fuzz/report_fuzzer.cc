// Attestation reports (docs/formats.md, "Attestation report"): what `cvmsim verify` and
// `cvmsim inspect` read from a tenant's file. An accepted report re-encodes to the very
// bytes it came from, so no two encodings mean the same report.
#include <cstddef>
#include <cstdint>

#include "attest/report.h"
#include "common/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cvmsim::ByteView input(data, size);
  cvmsim::fuzz::refuse_only_with<cvmsim::Error>([&] {
    const cvmsim::attest::Report report = cvmsim::attest::Report::decode(input, "fuzz.report");
    const cvmsim::Bytes again = report.encode();
    FUZZ_CHECK(cvmsim::ByteView(again).size() == size &&
               std::equal(again.begin(), again.end(), data));
  });
  return 0;
}
