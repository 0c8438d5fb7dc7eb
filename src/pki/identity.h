// Vendor, chip and provider identities and their directories (docs/formats.md, "Identity
// directories and certificate chains").
//
//   vendor root -> vendor signing key -> chip endorsement key -> attestation key
//                                                             -> key-wrapping key
//   sm names (Hygon-style):  HRK -> HSK -> CEK -> PEK (attestation), PDH (key wrapping)
//   nist names (AMD-style):  ARK -> ASK -> VCEK -> VAK (attestation), VWK (key wrapping)
//
// Chip private keys are written under CHIPDIR/fuses/ and are read only by the PSP model's
// loader (src/psp/chip_fuses.h); everything here loads public parts only.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"
#include "pki/certificate.h"

namespace cvmsim::pki {

enum class Role { root, signing, endorsement, attestation, wrapping };

// "HRK", "ARK", "PEK", "VAK", ...
std::string_view role_name(crypto::SuiteId suite, Role role);

struct VendorIdentity {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  std::string name;
  Certificate root;
  Certificate signing;
};

struct ChipIdentity {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  Bytes chip_id;
  std::string vendor;
  Certificate root;
  Certificate signing;
  Certificate endorsement;
  Certificate attestation;
  Certificate wrapping;

  // root, signing, endorsement, attestation, wrapping: the exported order.
  [[nodiscard]] std::vector<Certificate> chain() const;
  // Verifies every certificate against `trusted_root` (or the chain's own root when null)
  // and that the roles, suite and chip id are consistent. Throws PkiError{bad_chain}.
  void verify(const Certificate* trusted_root) const;
};

struct ProviderIdentity {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  std::string name;
  Certificate certificate;  // self-signed, describes the provider
};

// Creation refuses an existing directory unless `force`; a failure leaves nothing behind.
VendorIdentity create_vendor(const std::filesystem::path& dir, crypto::SuiteId suite,
                             const std::string& name, bool force);
ChipIdentity create_chip(const std::filesystem::path& vendor_dir,
                         const std::filesystem::path& chip_dir, bool force);
ProviderIdentity create_provider(const std::filesystem::path& dir, crypto::SuiteId suite,
                                 const std::string& name, bool force);

VendorIdentity load_vendor(const std::filesystem::path& dir);
ChipIdentity load_chip(const std::filesystem::path& dir);
ProviderIdentity load_provider(const std::filesystem::path& dir);
// The provider's signing key: the provider's own tools hold it.
crypto::Key load_provider_key(const std::filesystem::path& dir);

// A chain as written by `cvmsim chip export` (PEM or concatenated DER), in the exported
// order, checked for roles and consistency (not yet against a trusted root).
ChipIdentity parse_chip_chain(ByteView data, std::string_view source);

}  // namespace cvmsim::pki
