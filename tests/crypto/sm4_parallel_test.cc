// parallel_encrypt_units / parallel_decrypt_units: same bytes as one thread, slices on unit
// boundaries with their own unit numbers, errors from any slice reach the caller.
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "crypto/crypto_error.h"
#include "crypto/sm4/parallel_xts.h"
#include "crypto/sm4/sm4_xts_fast.h"
#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

using Sizes = std::initializer_list<std::size_t>;
Bytes random_data(std::mt19937_64& rng, std::size_t size) {
  Bytes out(size);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

TEST(ParallelXts, SameBytesAsOneThread) {
  std::mt19937_64 rng(1);
  const auto cipher = make_sm4_xts(random_bytes(32));
  // 5 MiB + 3 sectors: not a multiple of any thread count below, so slices differ in size.
  for (std::size_t unit : Sizes{512, 4096}) {
    const Bytes plain = random_data(rng, 5 * 1024 * 1024 + 3 * unit);
    Bytes expected(plain.size());
    cipher->encrypt_units(777, unit, plain, expected);
    for (unsigned threads : {0u, 1u, 2u, 3u, 7u}) {
      Bytes out(plain.size());
      parallel_encrypt_units(*cipher, 777, unit, plain, out, threads);
      ASSERT_EQ(out, expected) << threads << " threads, unit " << unit;
      parallel_decrypt_units(*cipher, 777, unit, out, out, threads);  // in place
      ASSERT_EQ(out, plain) << threads << " threads, unit " << unit;
    }
  }
}

// Both suites' ciphers are shared by concurrent callers (the packer's workers): more
// threads than the AES cipher keeps EVP contexts for, each with its own tweaks, must each
// get exactly the single-threaded bytes.
TEST(ParallelXts, ConcurrentCallersOfOneCipherGetTheirOwnResults) {
  for (SuiteId id : {SuiteId::sm, SuiteId::nist}) {
    const auto cipher = suite(id).new_xts(random_bytes(suite(id).xts_key_size()));
    std::mt19937_64 rng(7);
    constexpr unsigned kThreads = 8;
    std::vector<Bytes> plain, expected, got(kThreads);
    for (unsigned t = 0; t < kThreads; ++t) {
      plain.push_back(random_data(rng, 64 * 512));
      expected.emplace_back(plain.back().size());
      cipher->encrypt_units(1000 * t, 512, plain.back(), expected.back());
    }
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        got[t].resize(plain[t].size());
        for (int round = 0; round < 50; ++round) {
          cipher->encrypt_units(1000 * t, 512, plain[t], got[t]);
          Bytes back(got[t].size());
          cipher->decrypt_unit(plain64_tweak(1000 * t), ByteView(got[t]).first(512),
                               MutableByteView(back).first(512));
          if (!std::equal(back.begin(), back.begin() + 512, plain[t].begin())) got[t].clear();
        }
      });
    }
    for (auto& th : threads) th.join();
    for (unsigned t = 0; t < kThreads; ++t) {
      EXPECT_EQ(got[t], expected[t]) << to_string(id) << " thread " << t;
    }
  }
}

TEST(ParallelXts, ThreadCountFollowsTheWork) {
  EXPECT_EQ(parallel_xts_threads(4096, 4096, 8), 1u);  // too little work to split
  EXPECT_EQ(parallel_xts_threads(kParallelMinBytesPerThread * 2, 4096, 8), 2u);
  EXPECT_EQ(parallel_xts_threads(kParallelMinBytesPerThread * 64, 4096, 3), 3u);
  EXPECT_EQ(parallel_xts_threads(0, 4096, 4), 0u);
  // Never more threads than units.
  EXPECT_EQ(parallel_xts_threads(3 * 1024 * 1024, 1024 * 1024, 16), 3u);
}

TEST(ParallelXts, RefusesPartialUnits) {
  const auto cipher = make_sm4_xts(random_bytes(32));
  Bytes data(kParallelMinBytesPerThread * 4 + 100);
  EXPECT_THROW(parallel_encrypt_units(*cipher, 0, 4096, data, data, 4), CryptoError);
  Bytes out(data.size() - 4196);
  EXPECT_THROW(
      parallel_decrypt_units(*cipher, 0, 4096, ByteView(data).first(out.size() - 4096), out, 4),
      CryptoError);
}

// A cipher that fails on one unit number, to see that a worker's exception is rethrown.
class FailingCipher final : public XtsCipher {
 public:
  explicit FailingCipher(std::uint64_t bad_unit) : bad_unit_(bad_unit) {}
  void encrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    if (tweak == plain64_tweak(bad_unit_)) throw std::runtime_error("unit refused");
    std::copy(in.begin(), in.end(), out.begin());
  }
  void decrypt_unit(const Tweak& tweak, ByteView in, MutableByteView out) const override {
    encrypt_unit(tweak, in, out);
  }

 private:
  std::uint64_t bad_unit_;
};

TEST(ParallelXts, RethrowsAWorkersException) {
  const std::size_t units = 4 * kParallelMinBytesPerThread / 4096;
  Bytes data(units * 4096);
  // Unit 10 is in the first slice (a worker thread), the last unit in the caller's slice.
  for (std::uint64_t bad : {std::uint64_t{1000 + 10}, std::uint64_t{1000 + units - 1}}) {
    const FailingCipher cipher(bad);
    EXPECT_THROW(parallel_encrypt_units(cipher, 1000, 4096, data, data, 4), std::runtime_error);
  }
  const FailingCipher fine(1);
  EXPECT_NO_THROW(parallel_encrypt_units(fine, 1000, 4096, data, data, 4));
}

}  // namespace
}  // namespace cvmsim::crypto
