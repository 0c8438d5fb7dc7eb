// ECIES on P-384 with HKDF-SHA384 and AES-256-GCM: the nist suite's key wrapping.
// Byte layout in docs/formats.md ("Wrapped keys").
#pragma once

#include "common/bytes.h"
#include "crypto/key.h"

namespace cvmsim::crypto::detail {

Bytes ecies_p384_wrap(const Key& recipient, ByteView secret, ByteView context);
Bytes ecies_p384_unwrap(const Key& recipient, ByteView wrapped, ByteView context);

}  // namespace cvmsim::crypto::detail
