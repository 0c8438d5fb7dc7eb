// SM4-XTS: each of our paths this CPU can run, against the distribution's libraries in the
// same run (OpenSSL 3.0 SM4-ECB/CTR through EVP, libgcrypt's SM4-XTS) and OpenSSL's
// AES-256-XTS as the anchor (BM_AesXtsEvpDirect in bench_crypto.cc).
// Run: build/bin/cvmsim-bench --benchmark_filter='Sm4|AesXtsEvp'
//
//   Sm4Xts/<path>/unit/<bytes>     encrypt_unit, one data unit per call (a lone sector)
//   Sm4Xts/<path>/units/<bytes>    encrypt_units over 256 KiB (bulk: packing, disk reads)
//   Sm4XtsParallel/<path>/<bytes>  parallel_encrypt_units over 8 MiB, 1 and 2 threads
//   .../threads:2                  two benchmark threads, each with its own buffer
#include <benchmark/benchmark.h>
#include <gcrypt.h>
#include <openssl/evp.h>

#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>

#include "crypto/sm4/parallel_xts.h"
#include "crypto/sm4/sm4_xts_fast.h"
#include "crypto/suite.h"

namespace {

using Sizes = std::initializer_list<std::size_t>;
using namespace cvmsim;

constexpr std::size_t kBulkBytes = 256 * 1024;  // stays in a core's L2
constexpr std::size_t kParallelBytes = 8 * 1024 * 1024;

void set_bytes(benchmark::State& state, std::size_t per_iteration) {
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(per_iteration));
}

void ours_unit(benchmark::State& state, crypto::Sm4Impl impl, std::size_t unit) {
  const auto xts = crypto::make_sm4_xts(crypto::random_bytes(32), impl);
  Bytes data = crypto::random_bytes(unit);
  std::uint64_t sector = 0;
  for (auto _ : state) {
    xts->encrypt_unit(crypto::plain64_tweak(sector++), data, data);
    benchmark::DoNotOptimize(data.data());
  }
  set_bytes(state, unit);
}

void ours_units(benchmark::State& state, crypto::Sm4Impl impl, std::size_t unit, bool encrypt) {
  const auto xts = crypto::make_sm4_xts(crypto::random_bytes(32), impl);
  Bytes data = crypto::random_bytes(kBulkBytes);
  std::uint64_t sector = 0;
  for (auto _ : state) {
    if (encrypt) {
      xts->encrypt_units(sector, unit, data, data);
    } else {
      xts->decrypt_units(sector, unit, data, data);
    }
    sector += kBulkBytes / unit;
    benchmark::DoNotOptimize(data.data());
  }
  set_bytes(state, kBulkBytes);
}

void ours_parallel(benchmark::State& state, crypto::Sm4Impl impl, std::size_t unit) {
  const auto xts = crypto::make_sm4_xts(crypto::random_bytes(32), impl);
  Bytes data = crypto::random_bytes(kParallelBytes);
  const auto threads = static_cast<unsigned>(state.range(0));
  for (auto _ : state) {
    crypto::parallel_encrypt_units(*xts, 0, unit, data, data, threads);
    benchmark::DoNotOptimize(data.data());
  }
  set_bytes(state, kParallelBytes);
}

// OpenSSL 3.0 has SM4 only as a block cipher (ECB, CBC, CTR, ...), no SM4-XTS.
void openssl_sm4(benchmark::State& state, const EVP_CIPHER* cipher, std::size_t chunk) {
  const Bytes key = crypto::random_bytes(16);
  const Bytes iv = crypto::random_bytes(16);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      &EVP_CIPHER_CTX_free);
  if (EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data()) != 1) {
    state.SkipWithError("EVP_EncryptInit_ex failed");
    return;
  }
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  Bytes data = crypto::random_bytes(chunk);
  for (auto _ : state) {
    int written = 0;
    EVP_EncryptUpdate(ctx.get(), data.data(), &written, data.data(), static_cast<int>(chunk));
    benchmark::DoNotOptimize(data.data());
  }
  set_bytes(state, chunk);
}

void gcrypt_xts(benchmark::State& state, std::size_t unit) {
  gcry_cipher_hd_t handle = nullptr;
  if (gcry_cipher_open(&handle, GCRY_CIPHER_SM4, GCRY_CIPHER_MODE_XTS, 0) != 0) {
    state.SkipWithError("libgcrypt has no SM4-XTS");
    return;
  }
  const Bytes key = crypto::random_bytes(32);
  gcry_cipher_setkey(handle, key.data(), key.size());
  Bytes data = crypto::random_bytes(unit);
  std::uint64_t sector = 0;
  for (auto _ : state) {
    const auto tweak = crypto::plain64_tweak(sector++);
    gcry_cipher_setiv(handle, tweak.data(), tweak.size());
    gcry_cipher_encrypt(handle, data.data(), data.size(), nullptr, 0);
    benchmark::DoNotOptimize(data.data());
  }
  gcry_cipher_close(handle);
  set_bytes(state, unit);
}

std::string name(std::string_view prefix, crypto::Sm4Impl impl, std::string_view rest) {
  return std::string(prefix) + "/" + std::string(crypto::to_string(impl)) + "/" + std::string(rest);
}

bool register_all() {
  // libgcrypt initialises itself here, before any benchmark thread uses it.
  if (gcry_check_version("1.10.0") == nullptr) throw std::runtime_error("libgcrypt < 1.10");
  for (crypto::Sm4Impl impl : crypto::available_sm4_impls()) {
    for (std::size_t unit : Sizes{512, 4096}) {
      const std::string size = std::to_string(unit);
      benchmark::RegisterBenchmark(name("Sm4Xts", impl, "unit/" + size).c_str(), ours_unit, impl,
                                   unit);
      benchmark::RegisterBenchmark(name("Sm4Xts", impl, "units/" + size).c_str(), ours_units, impl,
                                   unit, true)
          ->Threads(1)
          ->Threads(2)
          ->UseRealTime();
      benchmark::RegisterBenchmark(name("Sm4XtsParallel", impl, size).c_str(), ours_parallel, impl,
                                   unit)
          ->Arg(1)
          ->Arg(2)
          ->UseRealTime();
    }
    benchmark::RegisterBenchmark(name("Sm4XtsDecrypt", impl, "units/4096").c_str(), ours_units,
                                 impl, std::size_t{4096}, false);
  }
  for (std::size_t chunk : Sizes{512, 4096}) {
    const std::string size = std::to_string(chunk);
    benchmark::RegisterBenchmark(("Sm4OpenSslEcb/" + size).c_str(), openssl_sm4, EVP_sm4_ecb(),
                                 chunk)
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("Sm4OpenSslCtr/" + size).c_str(), openssl_sm4, EVP_sm4_ctr(),
                                 chunk);
    benchmark::RegisterBenchmark(("Sm4XtsLibgcrypt/" + size).c_str(), gcrypt_xts, chunk)
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  }
  return true;
}

[[maybe_unused]] const bool kRegistered = register_all();

}  // namespace
