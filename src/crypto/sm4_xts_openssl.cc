// SM4-XTS with IEEE 1619 tweaks over OpenSSL's SM4-ECB: the reference implementation.
//
// IEEE 1619: T = E_K2(tweak); block j is C_j = E_K1(P_j ^ T_j) ^ T_j with
// T_{j+1} = T_j * alpha in GF(2^128) (little-endian bytes, reduction 0x87); a partial last
// block uses ciphertext stealing. The GB/T 17964 tweak ordering is different and is not
// what dm-crypt uses, so it is deliberately not offered.
#include <fmt/format.h>

#include <array>
#include <mutex>

#include "crypto/crypto_error.h"
#include "crypto/openssl_ptr.h"
#include "crypto/openssl_xts.h"
#include "crypto/xts_tweak.h"

namespace cvmsim::crypto {
namespace {

using detail::check;
using detail::EvpCipherCtxPtr;
using Block = std::array<std::uint8_t, 16>;

void xor_block(std::uint8_t* dst, const std::uint8_t* a, const Block& b) {
  for (std::size_t i = 0; i < 16; ++i) dst[i] = a[i] ^ b[i];
}

EvpCipherCtxPtr make_ecb(ByteView key, int enc) {
  EvpCipherCtxPtr ctx(detail::check_ptr(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new"));
  check(EVP_CipherInit_ex(ctx.get(), EVP_sm4_ecb(), nullptr, key.data(), nullptr, enc),
        "SM4 key setup");
  check(EVP_CIPHER_CTX_set_padding(ctx.get(), 0), "SM4 padding");
  return ctx;
}

class OpenSslSm4Xts final : public XtsCipher {
 public:
  explicit OpenSslSm4Xts(ByteView key)
      : encrypt_(make_ecb(key.first(16), 1)),
        decrypt_(make_ecb(key.first(16), 0)),
        tweak_(make_ecb(key.subspan(16), 1)) {}

  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const std::scoped_lock lock(mutex_);
    process(true, tweak, in, out);
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    const std::scoped_lock lock(mutex_);
    process(false, tweak, in, out);
  }

 private:
  void ecb(EVP_CIPHER_CTX* ctx, const std::uint8_t* in, std::uint8_t* out,
           std::size_t length) const {
    int written = 0;
    check(EVP_CipherUpdate(ctx, out, &written, in, static_cast<int>(length)), "SM4-ECB");
  }

  void process(bool encrypting, const Tweak& tweak, ByteView in, MutableByteView out) const {
    if (in.size() < 16 || out.size() != in.size() || in.size() > (1u << 24)) {
      throw CryptoError(CryptoErrc::bad_length,
                        fmt::format("SM4-XTS data unit of {} bytes (output {}); expected equal "
                                    "sizes from 16 bytes to 16 MiB",
                                    in.size(), out.size()));
    }
    EVP_CIPHER_CTX* cipher = encrypting ? encrypt_.get() : decrypt_.get();
    Block t{};
    ecb(tweak_.get(), tweak.data(), t.data(), 16);

    const std::size_t full_blocks = in.size() / 16;
    const std::size_t tail = in.size() % 16;
    // With stealing, the last full block is handled together with the tail.
    const std::size_t plain_blocks = tail == 0 ? full_blocks : full_blocks - 1;

    // Whiten all plain blocks, run them through ECB in one call, whiten again.
    scratch_.resize(plain_blocks * 16);
    tweaks_.resize(plain_blocks);
    for (std::size_t j = 0; j < plain_blocks; ++j) {
      tweaks_[j] = t;
      xor_block(&scratch_[16 * j], &in[16 * j], t);
      multiply_by_alpha(t);
    }
    if (plain_blocks > 0) ecb(cipher, scratch_.data(), scratch_.data(), scratch_.size());
    for (std::size_t j = 0; j < plain_blocks; ++j) {
      xor_block(&out[16 * j], &scratch_[16 * j], tweaks_[j]);
    }
    if (tail == 0) return;

    // Ciphertext stealing over the last full block m-1 and the partial block m.
    const std::size_t last = 16 * plain_blocks;
    Block t_next = t;
    multiply_by_alpha(t_next);
    // Encryption uses T_{m-1} then T_m; decryption uses them in the opposite order.
    const Block& first_tweak = encrypting ? t : t_next;
    const Block& second_tweak = encrypting ? t_next : t;
    Block cc{};
    xor_block(cc.data(), &in[last], first_tweak);
    ecb(cipher, cc.data(), cc.data(), 16);
    xor_block(cc.data(), cc.data(), first_tweak);
    Block pp = cc;
    for (std::size_t i = 0; i < tail; ++i) {
      pp[i] = in[last + 16 + i];
      out[last + 16 + i] = cc[i];
    }
    xor_block(pp.data(), pp.data(), second_tweak);
    ecb(cipher, pp.data(), pp.data(), 16);
    xor_block(&out[last], pp.data(), second_tweak);
  }

  // The EVP contexts and scratch buffers are per object, so calls are serialised.
  mutable std::mutex mutex_;
  EvpCipherCtxPtr encrypt_;
  EvpCipherCtxPtr decrypt_;
  EvpCipherCtxPtr tweak_;
  mutable Bytes scratch_;
  mutable std::vector<Block> tweaks_;
};

}  // namespace

std::unique_ptr<XtsCipher> make_openssl_sm4_xts(ByteView key) {
  check_xts_key(key, 32, "SM4-XTS");
  return std::make_unique<OpenSslSm4Xts>(key);
}

}  // namespace cvmsim::crypto
