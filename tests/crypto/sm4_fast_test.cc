// The fast SM4-XTS paths (src/crypto/sm4): every path this CPU can run, forced one at a
// time, against the standard's vectors, OpenSSL's SM4 block cipher and libgcrypt's
// SM4-XTS; plus CPU-feature detection, the CVMSIM_SM4_IMPL override and argument checks.
#include <gcrypt.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "common/hex.h"
#include "crypto/crypto_error.h"
#include "crypto/openssl_xts.h"
#include "crypto/sm4/kernel_select.h"
#include "crypto/sm4/sm4_xts_fast.h"
#include "crypto/suite.h"
#include "support/vectors.h"

namespace cvmsim::crypto {

// Failure messages say "gfni_avx2", not "4-byte object <02-00 00-00>" (found by ADL, so it
// lives in the enum's namespace).
void PrintTo(Sm4Impl impl, std::ostream* os) {
  *os << to_string(impl);
}

namespace {

using Sizes = std::initializer_list<std::size_t>;
using test::select_vectors;

constexpr Sm4Impl kAllImpls[] = {Sm4Impl::portable, Sm4Impl::aesni, Sm4Impl::gfni_avx2,
                                 Sm4Impl::gfni_avx512};

Bytes random_data(std::mt19937_64& rng, std::size_t size) {
  Bytes out(size);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

Bytes random_xts_key(std::mt19937_64& rng) {
  Bytes key = random_data(rng, 32);
  key[0] = static_cast<std::uint8_t>(key[16] ^ 1);  // the halves always differ
  return key;
}

Tweak random_tweak(std::mt19937_64& rng) {
  Tweak t{};
  for (auto& b : t) b = static_cast<std::uint8_t>(rng());
  return t;
}

Bytes slice(const Bytes& data, std::size_t offset, std::size_t size) {
  return {data.begin() + static_cast<std::ptrdiff_t>(offset),
          data.begin() + static_cast<std::ptrdiff_t>(offset + size)};
}

// OpenSSL's SM4 block cipher, the independent reference for the kernels.
Bytes openssl_sm4_ecb(ByteView key16, ByteView data, bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_CipherInit_ex(ctx, EVP_sm4_ecb(), nullptr, key16.data(), nullptr, encrypt ? 1 : 0),
            1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  Bytes out(data.size());
  int written = 0;
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &written, data.data(), static_cast<int>(data.size())),
            1);
  EXPECT_EQ(static_cast<std::size_t>(written), data.size());
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

// libgcrypt's SM4-XTS (IEEE 1619 tweak), the independent reference for whole units.
Bytes gcrypt_sm4_xts(ByteView key, const Tweak& tweak, ByteView data, bool encrypt) {
  gcry_cipher_hd_t handle = nullptr;
  EXPECT_EQ(gcry_cipher_open(&handle, GCRY_CIPHER_SM4, GCRY_CIPHER_MODE_XTS, 0), 0u);
  EXPECT_EQ(gcry_cipher_setkey(handle, key.data(), key.size()), 0u);
  EXPECT_EQ(gcry_cipher_setiv(handle, tweak.data(), tweak.size()), 0u);
  Bytes out(data.size());
  const gcry_error_t rc =
      encrypt ? gcry_cipher_encrypt(handle, out.data(), out.size(), data.data(), data.size())
              : gcry_cipher_decrypt(handle, out.data(), out.size(), data.data(), data.size());
  EXPECT_EQ(rc, 0u);
  gcry_cipher_close(handle);
  return out;
}

// T * alpha^j straight from the definition (IEEE 1619 5.2), for the tweak kernels.
Tweak times_alpha(Tweak t, std::size_t j) {
  for (std::size_t step = 0; step < j; ++step) {
    const bool carry = (t[15] & 0x80) != 0;
    for (std::size_t i = 15; i > 0; --i) {
      t[i] = static_cast<std::uint8_t>((t[i] << 1) | (t[i - 1] >> 7));
    }
    t[0] = static_cast<std::uint8_t>((t[0] << 1) ^ (carry ? 0x87 : 0));
  }
  return t;
}

// Sets an environment variable for one scope and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

const std::string kEnvVar(kSm4ImplEnvVar);

// ---------------------------------------------------------------------------------------
// Every path, forced one at a time.

class Sm4Path : public ::testing::TestWithParam<Sm4Impl> {
 protected:
  void SetUp() override {
    ASSERT_NE(gcry_check_version("1.10.0"), nullptr);
    if (!sm4_impl_available(impl())) {
      GTEST_SKIP() << "this CPU cannot run " << to_string(impl());
    }
  }
  Sm4Impl impl() const { return GetParam(); }
  const sm4::Kernels& kernels() const { return sm4::checked_kernels(impl()); }
  std::unique_ptr<XtsCipher> xts(ByteView key) const { return make_sm4_xts(key, impl()); }
};

TEST_P(Sm4Path, BlockCipherStandardExamples) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "SM4-ECB")) {
    sm4::KeySchedule keys{};
    sm4::expand_key(from_hex(v.at("Key")).data(), keys);
    const Bytes plain = from_hex(v.at("Plaintext"));
    Bytes block(16);
    kernels().crypt_blocks(keys.encrypt, plain.data(), block.data(), 1);
    EXPECT_EQ(to_hex(block), to_hex(from_hex(v.at("Ciphertext"))));
    kernels().crypt_blocks(keys.decrypt, block.data(), block.data(), 1);
    EXPECT_EQ(block, plain);
  }
  // Example 2: one million encryptions in place (pins the key schedule and every S-box
  // entry the chain happens to touch).
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "SM4-ECB-1000000")) {
    sm4::KeySchedule keys{};
    sm4::expand_key(from_hex(v.at("Key")).data(), keys);
    Bytes block = from_hex(v.at("Plaintext"));
    for (int i = 0; i < 1000000; ++i) {
      kernels().crypt_blocks(keys.encrypt, block.data(), block.data(), 1);
    }
    EXPECT_EQ(to_hex(block), to_hex(from_hex(v.at("Ciphertext"))));
  }
}

TEST_P(Sm4Path, BlockCipherMatchesOpenSslOnRandomKeysAndData) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(impl()) + 1);
  // Counts around every kernel width (8/16-block sets, 8-set steps, masked tails).
  for (std::size_t blocks : Sizes{1,  2,  3,  4,  5,  7,   8,   9,   15,  16,  17,  31,  32,
                                  33, 48, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 1000}) {
    const Bytes key = random_data(rng, 16);
    sm4::KeySchedule keys{};
    sm4::expand_key(key.data(), keys);
    const Bytes plain = random_data(rng, 16 * blocks);
    Bytes out(plain.size());
    kernels().crypt_blocks(keys.encrypt, plain.data(), out.data(), blocks);
    ASSERT_EQ(out, openssl_sm4_ecb(key, plain, true)) << blocks << " blocks";
    kernels().crypt_blocks(keys.decrypt, out.data(), out.data(), blocks);  // in place
    ASSERT_EQ(out, plain) << blocks << " blocks";
  }
}

TEST_P(Sm4Path, KernelsTouchOnlyTheirBlocks) {
  // Masked tails must neither read nor write past the last block: guard bytes around an
  // odd-sized run stay as they were.
  std::mt19937_64 rng(42);
  sm4::KeySchedule keys{};
  sm4::expand_key(random_data(rng, 16).data(), keys);
  for (std::size_t blocks : Sizes{1, 5, 13, 33, 70, 131}) {
    Bytes buffer = random_data(rng, 16 * blocks + 128);
    const Bytes before = buffer;
    Bytes tweaks = random_data(rng, 16 * blocks);
    kernels().xts_crypt_blocks(keys.encrypt, tweaks.data(), buffer.data() + 64, buffer.data() + 64,
                               blocks);
    EXPECT_TRUE(std::equal(buffer.begin(), buffer.begin() + 64, before.begin()));
    EXPECT_TRUE(std::equal(buffer.end() - 64, buffer.end(), before.end() - 64));
    Bytes generated = random_data(rng, 16 * blocks + 64);
    const Bytes generated_before = generated;
    kernels().make_tweaks(tweaks.data(), generated.data(), blocks);
    EXPECT_TRUE(std::equal(generated.end() - 64, generated.end(), generated_before.end() - 64));
  }
}

TEST_P(Sm4Path, TweakSequenceFollowsTheDefinition) {
  std::mt19937_64 rng(7);
  for (std::size_t blocks : Sizes{1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 100, 256, 1000}) {
    Tweak t0 = random_tweak(rng);
    if (blocks == 256) t0.fill(0xff);  // every reduction bit set on the first steps
    Bytes tweaks(16 * blocks);
    kernels().make_tweaks(t0.data(), tweaks.data(), blocks);
    for (std::size_t j = 0; j < blocks; ++j) {
      const Tweak expected = times_alpha(t0, j);
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(),
                             tweaks.begin() + static_cast<std::ptrdiff_t>(16 * j)))
          << "tweak " << j << " of " << blocks;
    }
  }
}

TEST_P(Sm4Path, XtsStandardVectors) {
  for (const auto& v : select_vectors("crypto-vectors.txt", "Cipher", "SM4-XTS")) {
    const auto cipher = xts(from_hex(v.at("Key")));
    const Bytes iv = from_hex(v.at("IV"));
    Tweak tweak{};
    std::copy(iv.begin(), iv.end(), tweak.begin());
    const Bytes plain = from_hex(v.at("Plaintext"));
    Bytes out(plain.size());
    cipher->encrypt_unit(tweak, plain, out);
    EXPECT_EQ(to_hex(out), to_hex(from_hex(v.at("Ciphertext"))));
    cipher->decrypt_unit(tweak, out, out);
    EXPECT_EQ(out, plain);
  }
}

TEST_P(Sm4Path, UnitsMatchLibgcryptOnRandomKeysAndTweaks) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(impl()) * 1000 + 3);
  // Sector sizes, sizes with ciphertext stealing, and units longer than one tweak batch.
  for (std::size_t size :
       Sizes{16, 17, 31, 32, 47, 100, 512, 527, 4096, 4111, 16384, 16400, 40000}) {
    for (int round = 0; round < 6; ++round) {
      const Bytes key = random_xts_key(rng);
      const Tweak tweak = random_tweak(rng);
      const Bytes plain = random_data(rng, size);
      const auto cipher = xts(key);
      Bytes ours(size);
      cipher->encrypt_unit(tweak, plain, ours);
      ASSERT_EQ(ours, gcrypt_sm4_xts(key, tweak, plain, true)) << "unit of " << size;
      Bytes back(size);
      cipher->decrypt_unit(tweak, ours, back);
      ASSERT_EQ(back, plain) << "unit of " << size;
      const Bytes theirs = gcrypt_sm4_xts(key, tweak, random_data(rng, size), true);
      cipher->decrypt_unit(tweak, theirs, back);
      ASSERT_EQ(back, gcrypt_sm4_xts(key, tweak, theirs, false)) << "unit of " << size;
      // In place, as the disk controller does it.
      Bytes in_place = plain;
      cipher->encrypt_unit(tweak, in_place, in_place);
      ASSERT_EQ(in_place, ours);
    }
  }
}

TEST_P(Sm4Path, ConsecutiveUnitsMatchLibgcrypt) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(impl()) * 1000 + 5);
  // Whole-block units take the batched path (many units per kernel call); the others go
  // unit by unit with batched tweak encryption.
  for (std::size_t unit : Sizes{16, 512, 4096, 32768, 24, 520, 4100}) {
    for (std::size_t count : Sizes{1, 3, 37, 70}) {
      if (unit * count > (1u << 20)) continue;
      const Bytes key = random_xts_key(rng);
      // Near 2^64 the plain64 unit number wraps, as dm-crypt's does.
      const std::uint64_t first = count == 37 ? ~std::uint64_t{0} - 5 : rng() >> 20;
      const Bytes plain = random_data(rng, unit * count);
      const auto cipher = xts(key);
      Bytes ours(plain.size());
      cipher->encrypt_units(first, unit, plain, ours);
      for (std::size_t k = 0; k < count; ++k) {
        ASSERT_EQ(slice(ours, k * unit, unit),
                  gcrypt_sm4_xts(key, plain64_tweak(first + k), slice(plain, k * unit, unit), true))
            << "unit " << k << " of " << count << " x " << unit;
      }
      Bytes back = ours;
      cipher->decrypt_units(first, unit, back, back);
      ASSERT_EQ(back, plain);
    }
  }
}

TEST_P(Sm4Path, MatchesTheOpenSslReference) {
  std::mt19937_64 rng(11);
  const Bytes key = random_xts_key(rng);
  const auto fast = xts(key);
  const auto reference = make_openssl_sm4_xts(key);
  const Bytes plain = random_data(rng, 16 * 4096);
  Bytes a(plain.size());
  Bytes b(plain.size());
  fast->encrypt_units(12345, 4096, plain, a);
  reference->encrypt_units(12345, 4096, plain, b);
  EXPECT_EQ(a, b);
}

TEST_P(Sm4Path, ForcedThroughTheEnvironment) {
  const ScopedEnv env(kEnvVar.c_str(), std::string(to_string(impl())).c_str());
  EXPECT_EQ(default_sm4_impl(), impl());
  std::mt19937_64 rng(13);
  const Bytes key = random_xts_key(rng);
  const auto cipher = make_sm4_xts(key);
  ASSERT_EQ(sm4_impl_of(*cipher), impl());
  const Bytes plain = random_data(rng, 4096);
  Bytes out(plain.size());
  cipher->encrypt_unit(plain64_tweak(9), plain, out);
  EXPECT_EQ(out, gcrypt_sm4_xts(key, plain64_tweak(9), plain, true));
}

INSTANTIATE_TEST_SUITE_P(Impls, Sm4Path, ::testing::ValuesIn(kAllImpls),
                         [](const auto& param) { return std::string(to_string(param.param)); });

// ---------------------------------------------------------------------------------------
// Selection and argument checks.

// The CPU flags as the kernel reports them (it clears the ones whose state it does not
// save), an independent source for the CPUID/XCR0 detection.
std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      std::set<std::string> flags;
      for (std::string w; words >> w;) flags.insert(w);
      return flags;
    }
  }
  return {};
}

TEST(Sm4Select, AvailabilityMatchesProcCpuinfo) {
  const std::set<std::string> flags = proc_cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags on this system";
  const auto has = [&](const char* f) { return flags.count(f) != 0; };
  EXPECT_TRUE(sm4_impl_available(Sm4Impl::portable));
  EXPECT_EQ(sm4_impl_available(Sm4Impl::aesni), has("aes") && has("avx2"));
  EXPECT_EQ(sm4_impl_available(Sm4Impl::gfni_avx2), has("gfni") && has("avx2"));
  EXPECT_EQ(sm4_impl_available(Sm4Impl::gfni_avx512),
            has("gfni") && has("avx512f") && has("avx512bw") && has("avx512vl"));
  const std::vector<Sm4Impl> available = available_sm4_impls();
  ASSERT_FALSE(available.empty());
  EXPECT_EQ(available.front(), Sm4Impl::portable);
  EXPECT_EQ(best_sm4_impl(), available.back());
}

TEST(Sm4Select, RequiresTheInstructionsAndTheirOsState) {
  sm4::CpuFeatures all;
  all.aes = all.avx2 = all.gfni = all.avx512f = all.avx512bw = all.avx512vl = true;
  all.os_ymm = all.os_zmm = true;
  for (Sm4Impl impl : kAllImpls) EXPECT_TRUE(sm4::impl_supported(impl, all));
  // AVX-512 listed by CPUID but its state not enabled by the OS: the 256-bit paths remain.
  sm4::CpuFeatures no_zmm = all;
  no_zmm.os_zmm = false;
  EXPECT_FALSE(sm4::impl_supported(Sm4Impl::gfni_avx512, no_zmm));
  EXPECT_TRUE(sm4::impl_supported(Sm4Impl::gfni_avx2, no_zmm));
  // No AVX state at all: only the portable path.
  sm4::CpuFeatures no_ymm = no_zmm;
  no_ymm.os_ymm = false;
  EXPECT_FALSE(sm4::impl_supported(Sm4Impl::gfni_avx2, no_ymm));
  EXPECT_FALSE(sm4::impl_supported(Sm4Impl::aesni, no_ymm));
  EXPECT_TRUE(sm4::impl_supported(Sm4Impl::portable, sm4::CpuFeatures{}));
  // Each instruction set on its own is not enough.
  sm4::CpuFeatures gfni_only = all;
  gfni_only.avx2 = gfni_only.avx512bw = false;
  EXPECT_FALSE(sm4::impl_supported(Sm4Impl::gfni_avx2, gfni_only));
  EXPECT_FALSE(sm4::impl_supported(Sm4Impl::gfni_avx512, gfni_only));
  sm4::CpuFeatures no_aes = all;
  no_aes.aes = false;
  EXPECT_FALSE(sm4::impl_supported(Sm4Impl::aesni, no_aes));
}

TEST(Sm4Select, NamesRoundTrip) {
  for (Sm4Impl impl : kAllImpls) EXPECT_EQ(parse_sm4_impl(to_string(impl)), impl);
  EXPECT_EQ(parse_sm4_impl("avx512"), std::nullopt);
  EXPECT_EQ(parse_sm4_impl(""), std::nullopt);
}

TEST(Sm4Select, DefaultIsTheBestWithoutTheVariable) {
  const ScopedEnv env(kEnvVar.c_str(), "");
  EXPECT_EQ(default_sm4_impl(), best_sm4_impl());
  const auto cipher = make_sm4_xts(random_bytes(32));
  EXPECT_EQ(sm4_impl_of(*cipher), best_sm4_impl());
  EXPECT_EQ(sm4_impl_of(*make_openssl_sm4_xts(random_bytes(32))), std::nullopt);
}

TEST(Sm4Select, RefusesAnUnknownName) {
  const ScopedEnv env(kEnvVar.c_str(), "avx1024");
  try {
    (void)make_sm4_xts(random_bytes(32));
    FAIL() << "an unknown implementation name was accepted";
  } catch (const CryptoError& e) {
    EXPECT_EQ(e.code(), CryptoErrc::library);
    EXPECT_NE(std::string(e.what()).find("avx1024"), std::string::npos) << e.what();
  }
}

TEST(Sm4Select, RefusesAnImplementationTheCpuLacks) {
  std::optional<Sm4Impl> missing;
  for (Sm4Impl impl : kAllImpls) {
    if (!sm4_impl_available(impl)) missing = impl;
  }
  if (!missing) GTEST_SKIP() << "this CPU runs every implementation";
  EXPECT_THROW((void)make_sm4_xts(random_bytes(32), *missing), CryptoError);
  const ScopedEnv env(kEnvVar.c_str(), std::string(to_string(*missing)).c_str());
  EXPECT_THROW((void)make_sm4_xts(random_bytes(32)), CryptoError);
}

TEST(Sm4Select, TheSmSuiteUsesTheFastImplementation) {
  const auto cipher = suite(SuiteId::sm).new_xts(random_bytes(32));
  EXPECT_EQ(sm4_impl_of(*cipher), default_sm4_impl());
}

TEST(Sm4Xts, RefusesBadKeysAndLengths) {
  for (std::size_t size : Sizes{0, 16, 31, 33, 64}) {
    try {
      (void)make_sm4_xts(random_bytes(size));
      FAIL() << "a " << size << "-byte key was accepted";
    } catch (const CryptoError& e) {
      EXPECT_EQ(e.code(), CryptoErrc::bad_key);
    }
  }
  Bytes equal_halves(32, 0x5a);
  try {
    (void)make_sm4_xts(equal_halves);
    FAIL() << "equal XTS key halves accepted";
  } catch (const CryptoError& e) {
    EXPECT_EQ(e.code(), CryptoErrc::bad_key);
  }
  const auto cipher = make_sm4_xts(random_bytes(32));
  const auto expect_bad_length = [](auto&& call) {
    try {
      call();
      FAIL() << "bad length accepted";
    } catch (const CryptoError& e) {
      EXPECT_EQ(e.code(), CryptoErrc::bad_length);
    }
  };
  Bytes small(15);
  Bytes block(16);
  Bytes big(1000);
  Bytes other(1024);
  expect_bad_length([&] { cipher->encrypt_unit(plain64_tweak(0), small, small); });
  expect_bad_length([&] { cipher->decrypt_unit(plain64_tweak(0), block, big); });
  expect_bad_length([&] { cipher->encrypt_units(0, 512, big, big); });
  expect_bad_length([&] { cipher->decrypt_units(0, 8, block, block); });
  expect_bad_length([&] { cipher->encrypt_units(0, 512, other, big); });
}

}  // namespace
}  // namespace cvmsim::crypto
