// Secure-call request pages (docs/formats.md, "Secure calls"): written by the guest, read
// by the PSP. The parser is firmware: it answers every page with a status and never throws
// (no exception may leave this harness). An accepted request re-encodes to a page that
// parses to the same request, and the PSP's response can be written into any request page.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "psp/secure_call.h"

using namespace cvmsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Pages shorter than a page are tried as they are (refused) and zero-filled (as a guest
  // that cleared its page and wrote only the first bytes).
  (void)psp::parse_secure_call(ByteView(data, size));
  Bytes page(psp::kSecureCallPageSize, 0);
  std::copy_n(data, std::min(size, page.size()), page.begin());
  const psp::ParsedSecureCall parsed = psp::parse_secure_call(page);
  if (!parsed.result.ok()) return 0;
  const Bytes encoded = psp::encode_secure_call(parsed.request);
  const psp::ParsedSecureCall again = psp::parse_secure_call(encoded);
  FUZZ_CHECK(again.result.ok());
  FUZZ_CHECK(again.request == parsed.request);
  // A response longer than the page can take is refused in the page, never written past it.
  psp::SecureCallResponse response;
  response.result = psp::Result::success();
  response.report = Bytes(size, 0xab);
  const psp::SecureCallId id = parsed.request.id();
  psp::write_response(id, response, page);
  const bool fits = id != psp::SecureCallId::attest || size <= page.size() - psp::kReportOffset;
  FUZZ_CHECK(page[16] == (fits ? 0 : static_cast<std::uint8_t>(psp::Status::internal_error)));
  return 0;
}
