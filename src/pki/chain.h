// Certificate chain verification through OpenSSL's X.509 verifier (the same code path as
// `openssl verify`): signatures, CA flags, path lengths, key usage and validity, from a
// trusted root through untrusted intermediates to a leaf.
#pragma once

#include <vector>

#include "pki/certificate.h"

namespace cvmsim::pki {

// Throws PkiError{bad_chain} naming the failing certificate and OpenSSL's reason.
void verify_chain(const Certificate& root, const std::vector<Certificate>& intermediates,
                  const Certificate& leaf);

// True when `candidate` is byte-for-byte the same certificate as `root`.
bool same_certificate(const Certificate& a, const Certificate& b);

}  // namespace cvmsim::pki
