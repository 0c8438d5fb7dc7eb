// The `nist` suite: ECDSA P-384 with SHA-384, ECIES P-384 wrapping, SHA-384, AES-256-XTS.
#include "crypto/ecies_p384.h"
#include "crypto/evp_hash.h"
#include "crypto/openssl_xts.h"
#include "crypto/suites.h"

namespace cvmsim::crypto {
namespace {

using namespace detail;

class NistSuite final : public Suite {
 public:
  SuiteId id() const override { return SuiteId::nist; }
  std::string_view hash_name() const override { return "SHA384"; }
  std::size_t digest_size() const override { return 48; }
  std::unique_ptr<HashContext> new_hash() const override {
    return std::make_unique<EvpHash>(EVP_sha384());
  }

  Key generate_key() const override { return Key::generate(SuiteId::nist); }

  Bytes sign(const Key& private_key, ByteView message) const override {
    require_suite(private_key, SuiteId::nist, "signing key");
    return evp_sign(private_key, "SHA384", {}, message);
  }

  bool verify(const Key& public_key, ByteView message, ByteView signature) const override {
    if (public_key.suite() != SuiteId::nist) return false;
    return evp_verify(public_key, "SHA384", {}, message, signature);
  }

  Bytes wrap(const Key& recipient, ByteView secret, ByteView context) const override {
    return ecies_p384_wrap(recipient, secret, context);
  }
  Bytes unwrap(const Key& recipient, ByteView wrapped, ByteView context) const override {
    return ecies_p384_unwrap(recipient, wrapped, context);
  }

  std::string_view xts_cipher_name() const override { return "aes-xts-plain64"; }
  std::size_t xts_key_size() const override { return 64; }
  std::unique_ptr<XtsCipher> new_xts(ByteView key) const override {
    return make_openssl_aes256_xts(key);
  }
};

}  // namespace

const Suite& nist_suite() {
  static const NistSuite instance;
  return instance;
}

}  // namespace cvmsim::crypto
