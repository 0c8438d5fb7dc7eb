#include "crypto/suite.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/crypto_error.h"
#include "crypto/suites.h"

namespace cvmsim::crypto {

Bytes Suite::hash(ByteView data) const {
  auto context = new_hash();
  context->update(data);
  return context->finish();
}

std::size_t Suite::max_signature_size(const Key& key) {
  // For an EC key OpenSSL reports the DER-encoded maximum (ECDSA_size's bound).
  const int size = EVP_PKEY_get_size(key.get());
  if (size <= 0) throw_openssl("EVP_PKEY_get_size");
  return static_cast<std::size_t>(size);
}

const Suite& suite(SuiteId id) {
  switch (id) {
    case SuiteId::sm:
      return sm_suite();
    case SuiteId::nist:
      return nist_suite();
  }
  throw CryptoError(CryptoErrc::unknown_suite, "unknown suite id");
}

Bytes random_bytes(std::size_t count) {
  Bytes out(count);
  if (RAND_bytes(out.data(), static_cast<int>(count)) != 1) throw_openssl("RAND_bytes");
  return out;
}

}  // namespace cvmsim::crypto
