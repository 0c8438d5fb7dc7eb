// Launch policies as text (`--policy guard=detect,...` on measure, pack and run) and as the
// 64-bit word in references and reports. Both may only refuse with a named error; an
// accepted policy prints as text and encodes as bits that parse back to the same policy.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "fuzz_check.h"
#include "measure/policy.h"

using namespace cvmsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::refuse_only_with<Error>([&] {
    const measure::Policy policy = measure::Policy::parse(text);
    FUZZ_CHECK(measure::Policy::parse(policy.to_string()) == policy);
    FUZZ_CHECK(measure::Policy::decode(policy.encode(), "re-encoded") == policy);
  });
  if (size >= 8) {
    std::uint64_t bits = 0;
    for (int i = 7; i >= 0; --i) bits = bits << 8 | data[i];
    fuzz::refuse_only_with<Error>([&] {
      const measure::Policy policy = measure::Policy::decode(bits, "fuzz.bits");
      FUZZ_CHECK(policy.encode() == bits);
    });
  }
  return 0;
}
