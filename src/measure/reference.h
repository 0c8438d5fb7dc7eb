// The signed reference measurement: the provider's statement "a VM launched from this
// firmware under this policy has this launch digest". The PSP checks it at LAUNCH_VERIFY.
//
//   off  size  field
//   0    8     magic "CVMSREF1"
//   8    2     version (1)
//   10   1     suite (1 = sm, 2 = nist)
//   11   5     zero
//   16   8     policy (docs/formats.md "Policy")
//   24   48    launch digest (32 bytes for sm, zero padded; 48 for nist)
//   72   48    provider key id = H(provider public key, DER SubjectPublicKeyInfo), padded
//   120  2     signature length L (1..256)
//   122  L     signature over bytes [0, 120) by the provider key (DER)
#pragma once

#include <cstdint>
#include <string_view>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"
#include "measure/policy.h"

namespace cvmsim::measure {

inline constexpr std::size_t kDigestField = 48;
inline constexpr std::size_t kReferenceSignedSize = 120;
inline constexpr std::size_t kMaxReferenceSize = 1024;

struct Reference {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  Policy policy;
  Bytes launch_digest;    // digest_size(suite) bytes
  Bytes provider_key_id;  // digest_size(suite) bytes
  Bytes signature;

  [[nodiscard]] Bytes signed_body() const;
  [[nodiscard]] Bytes encode() const;
  // Structural checks only (magic, version, suite, padding, sizes); names `source`.
  static Reference decode(ByteView data, std::string_view source);
  // Throws MeasureError{suite_mismatch} or {bad_signature} unless `provider` (public) made it.
  void verify(const crypto::Key& provider) const;
};

// The id under which a provider key is named in references and image certificates.
Bytes provider_key_id(const crypto::Key& provider);

Reference sign_reference(const crypto::Key& provider_private, const Policy& policy,
                         ByteView launch_digest);

}  // namespace cvmsim::measure
