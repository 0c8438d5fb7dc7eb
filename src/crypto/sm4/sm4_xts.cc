// SM4-XTS over the kernels of one implementation; the XTS framing (tweak schedule,
// batching, ciphertext stealing) is the shared driver in crypto/xts_driver.cc.
#include <fmt/format.h>

#include "crypto/crypto_error.h"
#include "crypto/openssl_xts.h"
#include "crypto/sm4/kernel_select.h"
#include "crypto/sm4/sm4_kernels.h"
#include "crypto/sm4/sm4_xts_fast.h"
#include "crypto/xts_driver.h"

namespace cvmsim::crypto {
namespace {

void check_unit(ByteView in, MutableByteView out) {
  if (in.size() < 16 || out.size() != in.size()) {
    throw CryptoError(CryptoErrc::bad_length,
                      fmt::format("SM4-XTS data unit of {} bytes (output {}); expected equal "
                                  "sizes of at least 16 bytes",
                                  in.size(), out.size()));
  }
}

// The driver's block primitives over one implementation's kernels and the expanded keys.
class Sm4BlockOps final : public XtsBlockOps {
 public:
  Sm4BlockOps(ByteView key, const sm4::Kernels& kernels) : kernels_(kernels) {
    sm4::expand_key(key.data(), data_key_);
    sm4::expand_key(key.data() + 16, tweak_key_);
  }
  Sm4BlockOps(const Sm4BlockOps&) = delete;
  Sm4BlockOps& operator=(const Sm4BlockOps&) = delete;
  ~Sm4BlockOps() override {
    secure_wipe(as_writable(data_key_));
    secure_wipe(as_writable(tweak_key_));
  }

  void encrypt_tweaks(std::uint8_t* tweaks, std::size_t blocks) const override {
    kernels_.crypt_blocks(tweak_key_.encrypt, tweaks, tweaks, blocks);
  }
  void crypt_blocks(bool encrypting, const std::uint8_t* tweaks, const std::uint8_t* in,
                    std::uint8_t* out, std::size_t blocks) const override {
    kernels_.xts_crypt_blocks(encrypting ? data_key_.encrypt : data_key_.decrypt, tweaks, in, out,
                              blocks);
  }
  void make_tweaks(const std::uint8_t* t0, std::uint8_t* tweaks,
                   std::size_t blocks) const override {
    kernels_.make_tweaks(t0, tweaks, blocks);
  }

 private:
  static MutableByteView as_writable(sm4::KeySchedule& schedule) {
    return {reinterpret_cast<std::uint8_t*>(&schedule), sizeof schedule};  // NOLINT
  }

  const sm4::Kernels& kernels_;
  sm4::KeySchedule data_key_{};
  sm4::KeySchedule tweak_key_{};
};

class Sm4Xts final : public XtsCipher {
 public:
  Sm4Xts(ByteView key, Sm4Impl impl) : impl_(impl), ops_(key, sm4::checked_kernels(impl)) {}

  [[nodiscard]] Sm4Impl impl() const { return impl_; }

  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    check_unit(in, out);
    xts_crypt_unit(ops_, true, tweak, in.data(), out.data(), in.size());
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    check_unit(in, out);
    xts_crypt_unit(ops_, false, tweak, in.data(), out.data(), in.size());
  }
  void encrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    check_xts_units("SM4-XTS", unit_size, in, out);
    xts_crypt_units(ops_, true, first_unit, unit_size, in.data(), out.data(),
                    in.size() / unit_size);
  }
  void decrypt_units(std::uint64_t first_unit, std::size_t unit_size, ByteView in,
                     MutableByteView out) const override {
    check_xts_units("SM4-XTS", unit_size, in, out);
    xts_crypt_units(ops_, false, first_unit, unit_size, in.data(), out.data(),
                    in.size() / unit_size);
  }

 private:
  Sm4Impl impl_;
  Sm4BlockOps ops_;
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
