// AES-256-XTS through OpenSSL's EVP interface.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "crypto/crypto_error.h"
#include "crypto/openssl_ptr.h"
#include "crypto/openssl_xts.h"

namespace cvmsim::crypto {
namespace {

using detail::check;
using detail::EvpCipherCtxPtr;

// EVP contexts carry the per-call tweak, so one context serves one call at a time. A
// mutex around a single pair serialised the packer's workers (each encrypting a 4 MiB
// chunk under the lock) and cost a lock per 512-byte sector; instead each cipher keeps
// a pair per hardware thread (plus one) and a call takes a free pair. Uncontended, that is
// one atomic exchange; a caller that finds every pair busy yields and tries again.
class ContextPool {
  struct Pair {
    mutable std::atomic_flag busy;
    EvpCipherCtxPtr encrypt{detail::check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")};
    EvpCipherCtxPtr decrypt{detail::check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")};
  };

 public:
  ContextPool(ByteView key, unsigned pairs) {
    for (unsigned i = 0; i < pairs; ++i) {
      auto pair = std::make_unique<Pair>();
      check(
          EVP_EncryptInit_ex(pair->encrypt.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr),
          "AES-256-XTS key setup");
      check(
          EVP_DecryptInit_ex(pair->decrypt.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr),
          "AES-256-XTS key setup");
      pairs_.push_back(std::move(pair));
    }
  }

  // A pair held for the lease's lifetime.
  class Lease {
   public:
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pair_.busy.clear(std::memory_order_release); }
    EVP_CIPHER_CTX* context(int enc) const {
      return enc != 0 ? pair_.encrypt.get() : pair_.decrypt.get();
    }

   private:
    friend class ContextPool;
    explicit Lease(const Pair& pair) : pair_(pair) {}
    const Pair& pair_;
  };

  Lease acquire() const {
    for (;;) {
      for (const auto& pair : pairs_) {
        if (!pair->busy.test_and_set(std::memory_order_acquire)) return Lease(*pair);
      }
      std::this_thread::yield();
    }
  }

 private:
  std::vector<std::unique_ptr<Pair>> pairs_;
};

class OpenSslAesXts final : public XtsCipher {
 public:
  explicit OpenSslAesXts(ByteView key)
      : pool_(key, std::max(1u, std::thread::hardware_concurrency()) + 1) {}

  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const auto lease = pool_.acquire();
    run(lease.context(1), 1, tweak, in, out);
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const auto lease = pool_.acquire();
    run(lease.context(0), 0, tweak, in, out);
  }
  void encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    const auto lease = pool_.acquire();
    run_units(lease.context(1), 1, first_unit, unit_size, in, out);
  }
  void decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    const auto lease = pool_.acquire();
    run_units(lease.context(0), 0, first_unit, unit_size, in, out);
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
      throw CryptoError(
          CryptoErrc::bad_length,
          fmt::format("AES-XTS: {} bytes are not whole units of {} bytes", in.size(), unit_size));
    }
    for (std::size_t offset = 0, unit = 0; offset < in.size(); offset += unit_size, ++unit) {
      run(ctx, enc, plain64_tweak(first_unit + unit), in.subspan(offset, unit_size),
          out.subspan(offset, unit_size));
    }
  }

  ContextPool pool_;
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
