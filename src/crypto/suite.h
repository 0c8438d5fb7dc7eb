// The one small interface every layer uses for cryptography. Two implementations:
// `sm` (SM2/SM3/SM4-XTS) and `nist` (P-384/SHA-384/AES-256-XTS), both over OpenSSL 3.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"
#include "crypto/xts.h"

namespace cvmsim::crypto {

// Incremental hash of the suite (SM3 or SHA-384).
class HashContext {
 public:
  virtual ~HashContext() = default;
  virtual void update(ByteView data) = 0;
  virtual Bytes finish() = 0;  // the context cannot be reused afterwards
};

class Suite {
 public:
  virtual ~Suite() = default;

  [[nodiscard]] virtual SuiteId id() const = 0;
  [[nodiscard]] std::string_view name() const { return to_string(id()); }

  // --- hashing -------------------------------------------------------------
  [[nodiscard]] virtual std::string_view hash_name() const = 0;  // "SM3" or "SHA384"
  [[nodiscard]] virtual std::size_t digest_size() const = 0;     // 32 or 48
  [[nodiscard]] virtual std::unique_ptr<HashContext> new_hash() const = 0;
  [[nodiscard]] Bytes hash(ByteView data) const;

  // --- signatures (SM2-with-SM3 and the default ID, or ECDSA-P384-with-SHA384) ---
  [[nodiscard]] virtual Key generate_key() const = 0;
  // DER-encoded (r, s) signature over `message` (the suite hashes it).
  [[nodiscard]] virtual Bytes sign(const Key& private_key, ByteView message) const = 0;
  // The longest DER signature `key` can give. A DER integer drops leading zero bytes and
  // adds one before a set top bit, so one key's signatures differ in length by a few bytes;
  // callers that must reserve room for a signature not yet made reserve this.
  [[nodiscard]] static std::size_t max_signature_size(const Key& key);
  [[nodiscard]] virtual bool verify(const Key& public_key, ByteView message,
                                    ByteView signature) const = 0;

  // --- key wrapping (SM2 encryption, or ECIES P-384 + HKDF + AES-256-GCM) ----
  // `context` is bound into the wrap (ECIES: HKDF info and GCM AAD; SM2: prefixed to the
  // plaintext and checked on unwrap) so a wrapped key cannot be moved to another purpose.
  [[nodiscard]] virtual Bytes wrap(const Key& recipient, ByteView secret,
                                   ByteView context) const = 0;
  // Throws CryptoError{unwrap_failed} when the blob is not for this key or context.
  [[nodiscard]] virtual Bytes unwrap(const Key& recipient, ByteView wrapped,
                                     ByteView context) const = 0;

  // --- XTS (SM4-XTS with a 2x128-bit key, or AES-256-XTS with a 2x256-bit key) ----
  [[nodiscard]] virtual std::string_view xts_cipher_name() const = 0;  // dm-crypt spelling
  [[nodiscard]] virtual std::size_t xts_key_size() const = 0;          // 32 or 64 bytes
  // Throws CryptoError{bad_key} if the key has the wrong size or equal halves.
  [[nodiscard]] virtual std::unique_ptr<XtsCipher> new_xts(ByteView key) const = 0;
};

// The process-wide immutable suite objects.
const Suite& suite(SuiteId id);

// Cryptographically strong random bytes (OpenSSL's DRBG).
Bytes random_bytes(std::size_t count);

}  // namespace cvmsim::crypto
