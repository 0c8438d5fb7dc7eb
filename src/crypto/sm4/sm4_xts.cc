// SM4-XTS over the kernels of one implementation: tweak schedule, batching, ciphertext
// stealing. IEEE 1619: T_0 = E_K2(tweak), T_{j+1} = T_j * alpha; C_j = E_K1(P_j ^ T_j) ^ T_j.
//
// Bulk calls are shaped for the kernels, which are fastest on long runs of blocks: the
// tweak inputs of many units are encrypted in one ECB call, each unit's tweak sequence is
// expanded into a buffer, and the blocks of all those units go through one
// xts_crypt_blocks call (units of whole blocks are contiguous, so this spans unit borders).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "crypto/crypto_error.h"
#include "crypto/openssl_xts.h"
#include "crypto/sm4/kernel_select.h"
#include "crypto/sm4/sm4_kernels.h"
#include "crypto/sm4/sm4_xts_fast.h"

namespace cvmsim::crypto {
namespace {

using Block = std::array<std::uint8_t, 16>;

// Tweaks expanded per batch: 16 KiB on the stack, four 4 KiB units or 32 sectors.
constexpr std::size_t kBatchBlocks = 1024;
// Units whose tweak inputs are encrypted together (a 16-block ECB call is one kernel step).
constexpr std::size_t kMaxBatchUnits = 64;

void multiply_by_alpha(Block& t) {
  const std::uint8_t carry = t[15] >> 7;
  for (std::size_t i = 15; i > 0; --i) {
    t[i] = static_cast<std::uint8_t>((t[i] << 1) | (t[i - 1] >> 7));
  }
  t[0] = static_cast<std::uint8_t>((t[0] << 1) ^ (carry != 0 ? 0x87 : 0));
}

void xor_into(Block& block, const Block& tweak) {
  for (std::size_t i = 0; i < 16; ++i) block[i] ^= tweak[i];
}

void check_unit(ByteView in, MutableByteView out) {
  if (in.size() < 16 || out.size() != in.size()) {
    throw CryptoError(CryptoErrc::bad_length,
                      fmt::format("SM4-XTS data unit of {} bytes (output {}); expected equal "
                                  "sizes of at least 16 bytes",
                                  in.size(), out.size()));
  }
}

void check_units(std::size_t unit_size, ByteView in, MutableByteView out) {
  if (unit_size < 16 || in.size() % unit_size != 0 || out.size() != in.size()) {
    throw CryptoError(CryptoErrc::bad_length,
                      fmt::format("SM4-XTS: {} input bytes and {} output bytes are not whole "
                                  "data units of {} bytes (units must be at least 16 bytes)",
                                  in.size(), out.size(), unit_size));
  }
}

class Sm4Xts final : public XtsCipher {
 public:
  Sm4Xts(ByteView key, Sm4Impl impl) : impl_(impl), kernels_(sm4::checked_kernels(impl)) {
    sm4::expand_key(key.data(), data_key_);
    sm4::expand_key(key.data() + 16, tweak_key_);
  }
  Sm4Xts(const Sm4Xts&) = delete;
  Sm4Xts& operator=(const Sm4Xts&) = delete;
  ~Sm4Xts() override {
    secure_wipe(as_writable(data_key_));
    secure_wipe(as_writable(tweak_key_));
  }

  [[nodiscard]] Sm4Impl impl() const { return impl_; }

  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    check_unit(in, out);
    unit(true, first_tweak(tweak), in.data(), out.data(), in.size());
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    check_unit(in, out);
    unit(false, first_tweak(tweak), in.data(), out.data(), in.size());
  }
  void encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    check_units(unit_size, in, out);
    units(true, first_unit, unit_size, in.data(), out.data(), in.size() / unit_size);
  }
  void decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    check_units(unit_size, in, out);
    units(false, first_unit, unit_size, in.data(), out.data(), in.size() / unit_size);
  }

 private:
  static MutableByteView as_writable(sm4::KeySchedule& schedule) {
    return {reinterpret_cast<std::uint8_t*>(&schedule), sizeof schedule};  // NOLINT
  }

  const std::uint32_t* round_keys(bool encrypting) const {
    return encrypting ? data_key_.encrypt : data_key_.decrypt;
  }

  Block first_tweak(const Tweak& tweak) const {
    Block t{};
    kernels_.crypt_blocks(tweak_key_.encrypt, tweak.data(), t.data(), 1);
    return t;
  }

  // One unit of `size` >= 16 bytes starting from the encrypted tweak t0.
  void unit(bool encrypting, Block t, const std::uint8_t* in, std::uint8_t* out,
            std::size_t size) const {
    const std::size_t tail = size % 16;
    // With stealing, the last full block is handled together with the partial one.
    const std::size_t bulk = size / 16 - (tail == 0 ? 0 : 1);
    alignas(64) std::uint8_t tweaks[16 * kBatchBlocks];
    for (std::size_t done = 0; done < bulk;) {
      const std::size_t n = std::min(kBatchBlocks, bulk - done);
      kernels_.make_tweaks(t.data(), tweaks, n);
      kernels_.xts_crypt_blocks(round_keys(encrypting), tweaks, in + 16 * done, out + 16 * done, n);
      std::memcpy(t.data(), tweaks + 16 * (n - 1), 16);
      multiply_by_alpha(t);
      done += n;
    }
    if (tail != 0) steal(encrypting, t, in + 16 * bulk, out + 16 * bulk, tail);
  }

  // Ciphertext stealing over the last full block (tweak t) and the `tail` bytes after it.
  void steal(bool encrypting, const Block& t, const std::uint8_t* in, std::uint8_t* out,
             std::size_t tail) const {
    Block t_next = t;
    multiply_by_alpha(t_next);
    // Encryption uses T_{m-1} then T_m; decryption the opposite order.
    const Block& first = encrypting ? t : t_next;
    const Block& second = encrypting ? t_next : t;
    Block cc{};
    std::memcpy(cc.data(), in, 16);
    crypt_one(encrypting, first, cc);
    Block pp = cc;
    for (std::size_t i = 0; i < tail; ++i) {  // read before write: in == out is allowed
      pp[i] = in[16 + i];
      out[16 + i] = cc[i];
    }
    crypt_one(encrypting, second, pp);
    std::memcpy(out, pp.data(), 16);
  }

  void crypt_one(bool encrypting, const Block& tweak, Block& block) const {
    xor_into(block, tweak);
    kernels_.crypt_blocks(round_keys(encrypting), block.data(), block.data(), 1);
    xor_into(block, tweak);
  }

  void units(bool encrypting, std::uint64_t first_unit, std::size_t unit_size,
             const std::uint8_t* in, std::uint8_t* out, std::size_t count) const {
    const bool contiguous = unit_size % 16 == 0 && unit_size <= 16 * kBatchBlocks;
    const std::size_t batch_units =
        contiguous ? std::min(kMaxBatchUnits, (16 * kBatchBlocks) / unit_size) : kMaxBatchUnits;
    const std::size_t unit_blocks = unit_size / 16;
    alignas(64) std::uint8_t starts[16 * kMaxBatchUnits];
    alignas(64) std::uint8_t tweaks[16 * kBatchBlocks];
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min(batch_units, count - done);
      for (std::size_t k = 0; k < n; ++k) {
        const Tweak input = plain64_tweak(first_unit + done + k);
        std::memcpy(starts + 16 * k, input.data(), 16);
      }
      kernels_.crypt_blocks(tweak_key_.encrypt, starts, starts, n);
      const std::uint8_t* unit_in = in + done * unit_size;
      std::uint8_t* unit_out = out + done * unit_size;
      if (contiguous) {
        for (std::size_t k = 0; k < n; ++k) {
          kernels_.make_tweaks(starts + 16 * k, tweaks + 16 * unit_blocks * k, unit_blocks);
        }
        kernels_.xts_crypt_blocks(round_keys(encrypting), tweaks, unit_in, unit_out,
                                  n * unit_blocks);
      } else {
        for (std::size_t k = 0; k < n; ++k) {
          Block t{};
          std::memcpy(t.data(), starts + 16 * k, 16);
          unit(encrypting, t, unit_in + k * unit_size, unit_out + k * unit_size, unit_size);
        }
      }
      done += n;
    }
  }

  Sm4Impl impl_;
  const sm4::Kernels& kernels_;
  sm4::KeySchedule data_key_{};
  sm4::KeySchedule tweak_key_{};
};

}  // namespace

std::unique_ptr<XtsCipher> make_sm4_xts(ByteView key, std::optional<Sm4Impl> impl) {
  check_xts_key(key, 32, "SM4-XTS");
  return std::make_unique<Sm4Xts>(key, impl ? *impl : default_sm4_impl());
}

std::optional<Sm4Impl> sm4_impl_of(const XtsCipher& cipher) {
  if (const auto* ours = dynamic_cast<const Sm4Xts*>(&cipher)) return ours->impl();
  return std::nullopt;
}

}  // namespace cvmsim::crypto
