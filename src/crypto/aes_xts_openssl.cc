// AES-256-XTS over OpenSSL's EVP interface, two ways by data unit size.
//
// OpenSSL's native XTS takes one unit per call, because the tweak changes per unit, and
// OpenSSL 3.0 sets a tweak slowly: EVP_CipherInit_ex looks the IV length up through
// OSSL_PARAM (strcmp over the parameter names) on every call, about 120 ns. For 512-byte
// sectors that doubled the cost of a unit (2.1 against 4.3 GB/s per core at 4096). Small
// units therefore go through the shared XTS driver (xts_driver.h) over AES-256-ECB, whose
// one EVP call covers a batch of 16 KiB: 3.0-3.4 GB/s at any unit size on the same core.
// Large units keep the native path, which is faster once the call cost is spread out.
#include <emmintrin.h>  // SSE2, part of x86-64: the tweak XORs of the batched path
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "crypto/crypto_error.h"
#include "crypto/openssl_ptr.h"
#include "crypto/openssl_xts.h"
#include "crypto/xts_driver.h"

namespace cvmsim::crypto {
namespace {

using detail::check;
using detail::EvpCipherCtxPtr;

// Units below this size take the batched ECB path (where it measured faster: see above).
constexpr std::size_t kNativeFromUnitSize = 2048;

EvpCipherCtxPtr new_context(const EVP_CIPHER* cipher, const std::uint8_t* key, int enc) {
  EvpCipherCtxPtr ctx(detail::check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new"));
  check(EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key, nullptr, enc), "AES key setup");
  return ctx;
}

// ECB over whole blocks only: without padding, decryption returns every block at once.
EvpCipherCtxPtr new_ecb_context(const std::uint8_t* key, int enc) {
  EvpCipherCtxPtr ctx = new_context(EVP_aes_256_ecb(), key, enc);
  check(EVP_CIPHER_CTX_set_padding(ctx.get(), 0), "AES-ECB padding off");
  return ctx;
}

// Every EVP context one call needs: native XTS both ways (K1 || K2), ECB under the data
// key K1 both ways and under the tweak key K2.
struct Contexts {
  explicit Contexts(ByteView key)
      : xts_encrypt(new_context(EVP_aes_256_xts(), key.data(), 1)),
        xts_decrypt(new_context(EVP_aes_256_xts(), key.data(), 0)),
        data_encrypt(new_ecb_context(key.data(), 1)),
        data_decrypt(new_ecb_context(key.data(), 0)),
        tweak_encrypt(new_ecb_context(key.data() + 32, 1)) {}
  mutable std::atomic_flag busy;
  EvpCipherCtxPtr xts_encrypt;
  EvpCipherCtxPtr xts_decrypt;
  EvpCipherCtxPtr data_encrypt;
  EvpCipherCtxPtr data_decrypt;
  EvpCipherCtxPtr tweak_encrypt;
};

// EVP contexts carry per-call state, so one set serves one call at a time. A mutex around
// a single set serialised the packer's workers (each encrypting a 4 MiB chunk under the
// lock) and cost a lock per 512-byte sector; instead each cipher keeps a set per hardware
// thread (plus one) and a call takes a free one. Uncontended, that is one atomic exchange;
// a caller that finds every set busy yields and tries again.
class ContextPool {
 public:
  ContextPool(ByteView key, unsigned sets) {
    for (unsigned i = 0; i < sets; ++i) sets_.push_back(std::make_unique<Contexts>(key));
  }

  // A set held for the lease's lifetime.
  class Lease {
   public:
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { contexts_.busy.clear(std::memory_order_release); }
    const Contexts& operator*() const { return contexts_; }
    const Contexts* operator->() const { return &contexts_; }

   private:
    friend class ContextPool;
    explicit Lease(const Contexts& contexts) : contexts_(contexts) {}
    const Contexts& contexts_;
  };

  Lease acquire() const {
    for (;;) {
      for (const auto& set : sets_) {
        if (!set->busy.test_and_set(std::memory_order_acquire)) return Lease(*set);
      }
      std::this_thread::yield();
    }
  }

 private:
  std::vector<std::unique_ptr<Contexts>> sets_;
};

void ecb(EVP_CIPHER_CTX* ctx, const std::uint8_t* in, std::uint8_t* out, std::size_t blocks) {
  int written = 0;
  check(EVP_CipherUpdate(ctx, out, &written, in, static_cast<int>(16 * blocks)), "AES-ECB");
}

// out_j = a_j ^ b_j over whole blocks; `out` may be `a`.
void xor_blocks(const std::uint8_t* a, const std::uint8_t* b, std::uint8_t* out,
                std::size_t blocks) {
  for (std::size_t i = 0; i < blocks; ++i) {
    const auto* pa = reinterpret_cast<const __m128i*>(a + 16 * i);  // NOLINT: SIMD access
    const auto* pb = reinterpret_cast<const __m128i*>(b + 16 * i);  // NOLINT
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * i),      // NOLINT
                     _mm_xor_si128(_mm_loadu_si128(pa), _mm_loadu_si128(pb)));
  }
}

// The XTS driver's block primitives over one leased context set.
class EcbBlockOps final : public XtsBlockOps {
 public:
  EcbBlockOps(const Contexts& contexts, MakeTweaksFn tweak_kernel)
      : contexts_(contexts), make_tweaks_(tweak_kernel) {}

  void encrypt_tweaks(std::uint8_t* tweaks, std::size_t blocks) const override {
    ecb(contexts_.tweak_encrypt.get(), tweaks, tweaks, blocks);
  }
  void crypt_blocks(bool encrypting, const std::uint8_t* tweaks, const std::uint8_t* in,
                    std::uint8_t* out, std::size_t blocks) const override {
    xor_blocks(in, tweaks, out, blocks);
    ecb(encrypting ? contexts_.data_encrypt.get() : contexts_.data_decrypt.get(), out, out, blocks);
    xor_blocks(out, tweaks, out, blocks);
  }
  void make_tweaks(const std::uint8_t* t0, std::uint8_t* tweaks,
                   std::size_t blocks) const override {
    make_tweaks_(t0, tweaks, blocks);
  }

 private:
  const Contexts& contexts_;
  MakeTweaksFn make_tweaks_;
};

class OpenSslAesXts final : public XtsCipher {
 public:
  explicit OpenSslAesXts(ByteView key)
      : pool_(key, std::max(1u, std::thread::hardware_concurrency()) + 1),
        make_tweaks_(fastest_make_tweaks()) {}

  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const auto lease = pool_.acquire();
    native(lease->xts_encrypt.get(), 1, tweak, in, out);
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const auto lease = pool_.acquire();
    native(lease->xts_decrypt.get(), 0, tweak, in, out);
  }
  void encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    units(true, first_unit, unit_size, in, out);
  }
  void decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    units(false, first_unit, unit_size, in, out);
  }

 private:
  static void native(EVP_CIPHER_CTX* ctx, int enc, const Tweak& tweak, ByteView in,
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

  void units(bool encrypting, std::uint64_t first_unit, std::size_t unit_size, ByteView in,
             MutableByteView out) const {
    if (unit_size < 16 || in.size() % unit_size != 0 || out.size() != in.size()) {
      throw CryptoError(
          CryptoErrc::bad_length,
          fmt::format("AES-XTS: {} bytes are not whole units of {} bytes", in.size(), unit_size));
    }
    const auto lease = pool_.acquire();
    if (unit_size < kNativeFromUnitSize) {
      xts_crypt_units(EcbBlockOps(*lease, make_tweaks_), encrypting, first_unit, unit_size,
                      in.data(), out.data(), in.size() / unit_size);
      return;
    }
    EVP_CIPHER_CTX* ctx = encrypting ? lease->xts_encrypt.get() : lease->xts_decrypt.get();
    for (std::size_t offset = 0, unit = 0; offset < in.size(); offset += unit_size, ++unit) {
      native(ctx, encrypting ? 1 : 0, plain64_tweak(first_unit + unit),
             in.subspan(offset, unit_size), out.subspan(offset, unit_size));
    }
  }

  ContextPool pool_;
  MakeTweaksFn make_tweaks_;
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
