// AES-256-XTS through our suite versus OpenSSL EVP directly (target: >= 0.9x), per unit
// and in bulk, and the OpenSSL-based SM4-XTS reference. Run: build/bin/cvmsim-bench
// --benchmark_filter=Xts
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <chrono>

#include "crypto/openssl_xts.h"
#include "crypto/suite.h"

namespace {

using namespace cvmsim;

void BM_AesXtsEvpDirect(benchmark::State& state) {
  const auto unit = static_cast<std::size_t>(state.range(0));
  const Bytes key = crypto::random_bytes(64);
  Bytes data = crypto::random_bytes(unit);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), nullptr, key.data(), nullptr);
  std::uint64_t sector = 0;
  for (auto _ : state) {
    const auto tweak = crypto::plain64_tweak(sector++);
    int written = 0;
    EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, tweak.data());
    EVP_EncryptUpdate(ctx, data.data(), &written, data.data(), static_cast<int>(unit));
    benchmark::DoNotOptimize(data.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(unit));
}

// The suite's AES-256-XTS against EVP directly, alternating in blocks of 256 units within
// each iteration so that the machine's drift hits both alike; suite_vs_evp is the ratio of
// the throughputs (the target: >= 0.9).
void BM_AesXtsSuite(benchmark::State& state) {
  const auto unit = static_cast<std::size_t>(state.range(0));
  const Bytes key = crypto::random_bytes(64);
  const auto xts = crypto::suite(crypto::SuiteId::nist).new_xts(key);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), nullptr, key.data(), nullptr);
  Bytes data = crypto::random_bytes(unit);
  constexpr int kBlock = 256;
  std::uint64_t sector = 0;
  double evp_seconds = 0, suite_seconds = 0;
  const auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kBlock; ++i) {
      const auto tweak = crypto::plain64_tweak(sector++);
      int written = 0;
      EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, tweak.data());
      EVP_EncryptUpdate(ctx, data.data(), &written, data.data(), static_cast<int>(unit));
    }
    evp_seconds += since(start);
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < kBlock; ++i) xts->encrypt_unit(crypto::plain64_tweak(sector++), data, data);
    suite_seconds += since(start);
    benchmark::DoNotOptimize(data.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  const double bytes = static_cast<double>(state.iterations()) * kBlock * static_cast<double>(unit);
  state.counters["evp_GBps"] = bytes / evp_seconds / 1e9;
  state.counters["suite_GBps"] = bytes / suite_seconds / 1e9;
  state.counters["suite_vs_evp"] = evp_seconds / suite_seconds;
}

// A run of consecutive units through the suite's encrypt_units (what the packer and the disk
// controller call) against EVP directly, one unit per call, alternating per iteration over
// the same 256 KiB; bulk_vs_evp is the ratio of the throughputs.
void BM_AesXtsBulk(benchmark::State& state) {
  const auto unit = static_cast<std::size_t>(state.range(0));
  const Bytes key = crypto::random_bytes(64);
  const auto xts = crypto::suite(crypto::SuiteId::nist).new_xts(key);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), nullptr, key.data(), nullptr);
  Bytes data = crypto::random_bytes(256u << 10);
  double evp_seconds = 0, bulk_seconds = 0;
  const auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    for (std::size_t offset = 0; offset < data.size(); offset += unit) {
      const auto tweak = crypto::plain64_tweak(offset / unit);
      int written = 0;
      EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, tweak.data());
      EVP_EncryptUpdate(ctx, data.data() + offset, &written, data.data() + offset,
                        static_cast<int>(unit));
    }
    evp_seconds += since(start);
    start = std::chrono::steady_clock::now();
    xts->encrypt_units(0, unit, data, data);
    bulk_seconds += since(start);
    benchmark::DoNotOptimize(data.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  const double bytes = static_cast<double>(state.iterations()) * static_cast<double>(data.size());
  state.counters["evp_GBps"] = bytes / evp_seconds / 1e9;
  state.counters["bulk_GBps"] = bytes / bulk_seconds / 1e9;
  state.counters["bulk_vs_evp"] = evp_seconds / bulk_seconds;
}

void BM_Sm4XtsOpenSslReference(benchmark::State& state) {
  const auto unit = static_cast<std::size_t>(state.range(0));
  const auto xts = crypto::make_openssl_sm4_xts(crypto::random_bytes(32));
  Bytes data = crypto::random_bytes(unit);
  std::uint64_t sector = 0;
  for (auto _ : state) {
    xts->encrypt_unit(crypto::plain64_tweak(sector++), data, data);
    benchmark::DoNotOptimize(data.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(unit));
}

BENCHMARK(BM_AesXtsEvpDirect)->Arg(512)->Arg(4096);
BENCHMARK(BM_AesXtsSuite)->Arg(512)->Arg(4096);
BENCHMARK(BM_AesXtsBulk)->Arg(512)->Arg(1024)->Arg(4096);
BENCHMARK(BM_Sm4XtsOpenSslReference)->Arg(512)->Arg(4096);

}  // namespace
