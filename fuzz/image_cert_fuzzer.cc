// Image certificates (docs/formats.md, "Image certificate"): the PSP decodes one from a
// LUKS2 token the host can rewrite, then checks its provider signature with the key the
// certificate itself carries (DER SubjectPublicKeyInfo, parsed by OpenSSL). Both must
// only refuse; an accepted certificate re-encodes to the very bytes it came from.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "fuzz_check.h"
#include "image/image_cert.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cvmsim::ByteView input(data, size);
  cvmsim::fuzz::refuse_only_with<cvmsim::Error>([&] {
    const auto cert = cvmsim::image::ImageCertificate::decode(input, "fuzz.cert");
    const cvmsim::Bytes again = cert.encode();
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
    (void)cert.data_sectors();
    (void)cvmsim::image::image_key_context(cert);
    (void)cert.signature_valid();
  });
  return 0;
}
