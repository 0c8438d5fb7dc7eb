// Reference measurements (docs/formats.md, "Reference measurement"): the provider-signed
// file that LAUNCH_VERIFY and `cvmsim verify --reference` read. An accepted reference
// re-encodes to the very bytes it came from.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "fuzz_check.h"
#include "measure/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cvmsim::ByteView input(data, size);
  cvmsim::fuzz::refuse_only_with<cvmsim::Error>([&] {
    const auto reference = cvmsim::measure::Reference::decode(input, "fuzz.ref");
    const cvmsim::Bytes again = reference.encode();
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  });
  return 0;
}
