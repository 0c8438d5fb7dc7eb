// Certificates and chip chains: `cvmsim verify --chain`, `--root`, `pack --chip-chain` and
// the identity loaders read PEM bundles or DER. Parsing, describing and checking a chain
// against its own root may only refuse with a named error.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "fuzz_check.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/identity.h"

using namespace cvmsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  fuzz::refuse_only_with<Error>([&] {
    const std::vector<pki::Certificate> certs = pki::Certificate::parse_all(input, "fuzz.pem");
    for (const pki::Certificate& cert : certs) {
      (void)cert.subject();
      (void)cert.issuer();
      (void)cert.common_name();
      (void)cert.serial_hex();
      const Bytes der = cert.der();
      FUZZ_CHECK(pki::Certificate::parse(der, "re-encoded").der() == der);
    }
    if (certs.size() >= 2) {
      std::vector<pki::Certificate> middle;  // certificates are move-only: parse copies
      for (std::size_t i = 1; i + 1 < certs.size(); ++i) {
        middle.push_back(pki::Certificate::parse(certs[i].der(), "intermediate"));
      }
      fuzz::refuse_only_with<Error>(
          [&] { pki::verify_chain(certs.front(), middle, certs.back()); });
    }
  });
  fuzz::refuse_only_with<Error>([&] {
    const pki::ChipIdentity chip = pki::parse_chip_chain(input, "fuzz.chain");
    chip.verify(nullptr);
  });
  return 0;
}
