// AES-256-XTS through OpenSSL's EVP interface.
#include <fmt/format.h>

#include <mutex>

#include "crypto/crypto_error.h"
#include "crypto/openssl_ptr.h"
#include "crypto/openssl_xts.h"

namespace cvmsim::crypto {
namespace {

using detail::check;
using detail::EvpCipherCtxPtr;

class OpenSslAesXts final : public XtsCipher {
 public:
  explicit OpenSslAesXts(ByteView key)
      : encrypt_(detail::check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")),
        decrypt_(detail::check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")) {
    check(EVP_EncryptInit_ex(encrypt_.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr),
          "AES-256-XTS key setup");
    check(EVP_DecryptInit_ex(decrypt_.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr),
          "AES-256-XTS key setup");
  }

  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const std::scoped_lock lock(mutex_);
    run(encrypt_.get(), 1, tweak, in, out);
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const std::scoped_lock lock(mutex_);
    run(decrypt_.get(), 0, tweak, in, out);
  }
  void encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    const std::scoped_lock lock(mutex_);
    run_units(encrypt_.get(), 1, first_unit, unit_size, in, out);
  }
  void decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    const std::scoped_lock lock(mutex_);
    run_units(decrypt_.get(), 0, first_unit, unit_size, in, out);
  }

 private:
  static void run(EVP_CIPHER_CTX* ctx, int enc, const Tweak& tweak, ByteView in,
                  MutableByteView out) {
    if (in.size() < 16 || out.size() != in.size() || in.size() > (1u << 24)) {
      throw CryptoError(CryptoErrc::bad_length,
                        fmt::format("AES-XTS data unit of {} bytes (output {}); expected equal "
                                    "sizes from 16 bytes to 16 MiB",
                                    in.size(), out.size()));
    }
    check(EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, tweak.data(), enc), "XTS tweak");
    int written = 0;
    check(EVP_CipherUpdate(ctx, out.data(), &written, in.data(), static_cast<int>(in.size())),
          "AES-XTS");
  }

  static void run_units(EVP_CIPHER_CTX* ctx, int enc, std::uint64_t first_unit,
                        std::size_t unit_size, ByteView in, MutableByteView out) {
    if (unit_size < 16 || in.size() % unit_size != 0 || out.size() != in.size()) {
      throw CryptoError(CryptoErrc::bad_length,
                        fmt::format("AES-XTS: {} bytes are not whole units of {} bytes",
                                    in.size(), unit_size));
    }
    for (std::size_t offset = 0, unit = 0; offset < in.size(); offset += unit_size, ++unit) {
      run(ctx, enc, plain64_tweak(first_unit + unit), in.subspan(offset, unit_size),
          out.subspan(offset, unit_size));
    }
  }

  // EVP contexts carry the per-call IV, so concurrent callers are serialised.
  mutable std::mutex mutex_;
  EvpCipherCtxPtr encrypt_;
  EvpCipherCtxPtr decrypt_;
};

}  // namespace

void check_xts_key(ByteView key, std::size_t expected_size, std::string_view cipher) {
  if (key.size() != expected_size) {
    throw CryptoError(CryptoErrc::bad_key, fmt::format("{} key is {} bytes; expected {}", cipher,
                                                       key.size(), expected_size));
  }
  const std::size_t half = expected_size / 2;
  if (equal_constant_time(key.first(half), key.subspan(half))) {
    throw CryptoError(CryptoErrc::bad_key,
                      fmt::format("{} key halves are equal; IEEE 1619 requires distinct data "
                                  "and tweak keys",
                                  cipher));
  }
}

std::unique_ptr<XtsCipher> make_openssl_aes256_xts(ByteView key) {
  check_xts_key(key, 64, "AES-256-XTS");
  return std::make_unique<OpenSslAesXts>(key);
}

}  // namespace cvmsim::crypto
