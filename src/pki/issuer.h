// Issues X.509 v3 certificates for the identity hierarchy.
//
// SM2 certificate signatures (SM3) use an empty distinguishing ID. GM/T 0015 asks for the
// default ID "1234567812345678", but OpenSSL 3.0's X.509 verifier applies no ID, and its
// `openssl verify -vfyopt distid:...` sets one on the leaf only, so a chain signed with the
// default ID cannot be checked by `openssl verify` in one command (measured: intermediate
// links fail). Signing certificates the way OpenSSL's own `req`/`x509` commands do keeps
// `openssl verify -CAfile root.pem -untrusted chain.pem cert.pem` working for whole chains.
// Every other SM2 signature in cvmsim (references, reports, image certificates) uses the
// standard default ID. docs/formats.md records this choice.
#pragma once

#include <optional>
#include <string>

#include "crypto/key.h"
#include "pki/certificate.h"

namespace cvmsim::pki {

enum class KeyRole {
  certificate_authority,  // keyCertSign + cRLSign
  signing,                // digitalSignature (attestation reports, provider artifacts)
  key_wrapping,           // keyEncipherment + keyAgreement
};

struct CertificateRequest {
  std::string common_name;
  std::string organization;
  std::string organizational_unit;           // e.g. the chip id
  const crypto::Key* subject_key = nullptr;  // public part is certified; not owned
  KeyRole role = KeyRole::signing;
  std::optional<int> path_length;  // for CAs: how many CAs may follow
  int validity_days = 3650;
};

// Signs `request` with `issuer_key`; `issuer` is nullopt for a self-signed certificate.
Certificate issue_certificate(const CertificateRequest& request, const crypto::Key& issuer_key,
                              const Certificate* issuer);

}  // namespace cvmsim::pki
