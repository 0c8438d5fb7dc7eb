#include "reference_xts.h"

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <stdexcept>

namespace cvmsim::test {
namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx ecb(const char* name, ByteView key, bool encrypt) {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (cipher == nullptr || ctx == nullptr ||
      EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, encrypt ? 1 : 0, nullptr) != 1) {
    EVP_CIPHER_free(cipher);
    throw std::runtime_error(std::string("cannot set up ") + name);
  }
  EVP_CIPHER_free(cipher);
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  return ctx;
}

void ecb_block(EVP_CIPHER_CTX* ctx, const std::uint8_t* in, std::uint8_t* out) {
  int n = 0;
  if (EVP_CipherUpdate(ctx, out, &n, in, 16) != 1 || n != 16) {
    throw std::runtime_error("ECB block failed");
  }
}

// Multiplication by the primitive element alpha in GF(2^128), little-endian (IEEE 1619).
void times_alpha(std::array<std::uint8_t, 16>& t) {
  std::uint8_t carry = 0;
  for (auto& byte : t) {
    const auto next = static_cast<std::uint8_t>(byte >> 7);
    byte = static_cast<std::uint8_t>((byte << 1) | carry);
    carry = next;
  }
  if (carry != 0) t[0] ^= 0x87;
}

}  // namespace

Bytes reference_decrypt_aes_xts(ByteView key64, std::uint64_t first, std::size_t sector_size,
                                ByteView ciphertext) {
  Bytes out(ciphertext.size());
  for (std::size_t at = 0; at < ciphertext.size(); at += sector_size) {
    std::array<std::uint8_t, 16> iv{};
    const std::uint64_t sector = first + at / sector_size;
    for (std::size_t i = 0; i < 8; ++i) iv[i] = static_cast<std::uint8_t>(sector >> (8 * i));
    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    int n = 0;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_xts(), nullptr, key64.data(), iv.data()) != 1 ||
        EVP_DecryptUpdate(ctx.get(), out.data() + at, &n, ciphertext.data() + at,
                          static_cast<int>(sector_size)) != 1 ||
        n != static_cast<int>(sector_size)) {
      throw std::runtime_error("AES-256-XTS decrypt failed");
    }
  }
  return out;
}

Bytes reference_decrypt_sm4_xts(ByteView key32, std::uint64_t first, std::size_t sector_size,
                                ByteView ciphertext) {
  const CipherCtx data_key = ecb("SM4-ECB", key32.first(16), false);
  const CipherCtx tweak_key = ecb("SM4-ECB", key32.subspan(16, 16), true);
  Bytes out(ciphertext.size());
  for (std::size_t at = 0; at < ciphertext.size(); at += sector_size) {
    std::array<std::uint8_t, 16> iv{};
    const std::uint64_t sector = first + at / sector_size;
    for (std::size_t i = 0; i < 8; ++i) iv[i] = static_cast<std::uint8_t>(sector >> (8 * i));
    std::array<std::uint8_t, 16> t{};
    ecb_block(tweak_key.get(), iv.data(), t.data());
    for (std::size_t b = 0; b < sector_size; b += 16) {
      std::array<std::uint8_t, 16> block{};
      for (std::size_t i = 0; i < 16; ++i) block[i] = ciphertext[at + b + i] ^ t[i];
      ecb_block(data_key.get(), block.data(), block.data());
      for (std::size_t i = 0; i < 16; ++i) out[at + b + i] = block[i] ^ t[i];
      times_alpha(t);
    }
  }
  return out;
}

}  // namespace cvmsim::test
