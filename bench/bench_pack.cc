// cvmsim pack throughput against a plain copy of the same file in the same run.
// Run: build/bin/cvmsim-bench --benchmark_filter=Pack
//
//   PlainCopy          read 4 MiB chunks, write them to a new file, fsync (what `cp` does,
//                      made as durable as pack's output)
//   Pack/<suite>/<sector>  image::pack_image of the same 256 MiB file for one chip, with
//                      three baselines timed in every iteration (medians of the
//                      per-iteration ratios of throughputs):
//                        copy_ratio     pack / PlainCopy (copy_ratio_min the worst)
//                        wb_copy_ratio  pack / a copy that also starts each chunk's
//                                       write-back at once, as the packer does
//                        cipher_ratio   pack / the suite's XTS alone encrypting the same
//                                       bytes in memory on as many threads (<= 1: a
//                                       ratio near 1 means the pack is cipher-bound)
// Files live in $TMPDIR (default /tmp); the input is in the page cache after the first run.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/scratch_dir.h"
#include "crypto/sm4/parallel_xts.h"
#include "crypto/suite.h"
#include "image/pack.h"
#include "pki/identity.h"

namespace {

using namespace cvmsim;
namespace fs = std::filesystem;

constexpr std::uint64_t kInputSize = 256ull << 20;
constexpr std::size_t kChunk = 4u << 20;

// A scratch directory with the input file and one identity set per suite, made once.
struct Workspace {
  ScratchDir scratch{"cvmsim-bench-pack"};
  fs::path dir = scratch.path();
  fs::path input;
  Workspace() {
    input = dir / "raw.img";
    const int fd = ::open(input.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Bytes chunk = crypto::random_bytes(kChunk);
    for (std::uint64_t done = 0; done < kInputSize; done += kChunk) {
      chunk[0] ^= 1;  // not one repeated block
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
        throw std::runtime_error("cannot write the benchmark input");
      }
    }
    ::close(fd);
    for (const char* suite : {"sm", "nist"}) {
      const fs::path base = dir / suite;
      fs::create_directory(base);
      pki::create_vendor(base / "vendor", crypto::parse_suite(suite), "bench", false);
      pki::create_chip(base / "vendor", base / "chip", false);
      pki::create_provider(base / "provider", crypto::parse_suite(suite), "bench", false);
    }
  }
};

Workspace& workspace() {
  static Workspace w;
  return w;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One copy of the input (4 MiB reads and writes, then fsync); returns seconds. With
// `start_writeback`, each chunk's write-back is started as soon as it is written
// (sync_file_range, as the packer does), so the disk works during the copy, not after it.
double plain_copy(const fs::path& in, const fs::path& out, bool start_writeback = false) {
  const auto start = std::chrono::steady_clock::now();
  const int src = ::open(in.c_str(), O_RDONLY);
  const int dst = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  Bytes buffer(kChunk);
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::read(src, buffer.data(), buffer.size());
    if (n <= 0) break;
    if (::write(dst, buffer.data(), static_cast<std::size_t>(n)) != n) {
      throw std::runtime_error("copy write failed");
    }
    if (start_writeback) (void)::sync_file_range(dst, offset, n, SYNC_FILE_RANGE_WRITE);
    offset += n;
  }
  ::fsync(dst);
  ::close(src);
  ::close(dst);
  const double s = seconds_since(start);
  fs::remove(out);
  return s;
}

void BM_PlainCopy(benchmark::State& state) {
  Workspace& w = workspace();
  for (auto _ : state) {
    state.SetIterationTime(plain_copy(w.input, w.dir / "copy.img"));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kInputSize));
}

// The cipher alone on the packer's work: every 4 MiB chunk of the input encrypted in memory
// in sector units, spread over the packer's thread count; returns seconds.
double raw_cipher(const crypto::XtsCipher& cipher, std::uint32_t sector_size, unsigned threads,
                  MutableByteView chunk) {
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t offset = 0; offset < kInputSize; offset += chunk.size()) {
    crypto::parallel_encrypt_units(cipher, offset / sector_size, sector_size, chunk, chunk,
                                   threads);
  }
  return seconds_since(start);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// A pack of the workspace's input for the chip of `suite_name`, and the provider key that
// signs it.
struct PackSetup {
  image::PackRequest request;
  crypto::Key provider;
};

PackSetup pack_setup(const char* suite_name, std::uint32_t sector_size) {
  Workspace& w = workspace();
  const fs::path base = w.dir / suite_name;
  const pki::ChipIdentity chip = pki::load_chip(base / "chip");
  PackSetup setup{{}, pki::load_provider_key(base / "provider")};
  image::PackRequest& request = setup.request;
  request.input = w.input;
  request.output = w.dir / "packed.img";
  request.suite = crypto::parse_suite(suite_name);
  request.sector_size = sector_size;
  request.chips.push_back({chip.chip_id, chip.wrapping.public_key()});
  return setup;
}

void BM_Pack(benchmark::State& state, const char* suite_name, std::uint32_t sector_size,
             unsigned threads = 0) {
  Workspace& w = workspace();
  PackSetup setup = pack_setup(suite_name, sector_size);
  image::PackRequest& request = setup.request;
  const crypto::Key& provider = setup.provider;
  request.threads = threads;
  const crypto::Suite& suite = crypto::suite(request.suite);
  const auto cipher = suite.new_xts(crypto::random_bytes(suite.xts_key_size()));
  Bytes chunk = crypto::random_bytes(kChunk);

  // The copies and the pack run back to back in every iteration, so load from elsewhere on
  // the machine hits them alike. All end in fsync, so all are bound by the disk, whose
  // speed here varies by 2x from one second to the next (a virtual disk): each ratio
  // reported is the median of the per-iteration ratios. Which runs first rotates too: each
  // one's output is deleted just before the next starts, and the file system's clean-up
  // of 256 MiB lands on whoever follows.
  double copy_total = 0;
  std::vector<double> copy_ratios, writeback_ratios, cipher_ratios;
  unsigned turn = 0;
  for (auto _ : state) {
    const double cipher_s = raw_cipher(*cipher, sector_size, threads, chunk);
    double copy_s = 0, writeback_s = 0, pack_s = 0;
    for (unsigned step = 0; step < 3; ++step) {
      switch ((turn + step) % 3) {
        case 0:
          copy_s = plain_copy(w.input, w.dir / "copy.img");
          break;
        case 1:
          writeback_s = plain_copy(w.input, w.dir / "copy.img", true);
          break;
        default: {
          const auto start = std::chrono::steady_clock::now();
          benchmark::DoNotOptimize(image::pack_image(request, provider));
          pack_s = seconds_since(start);
          fs::remove(request.output);
        }
      }
    }
    ++turn;
    copy_total += copy_s;
    copy_ratios.push_back(copy_s / pack_s);
    writeback_ratios.push_back(writeback_s / pack_s);
    cipher_ratios.push_back(cipher_s / pack_s);
    state.SetIterationTime(pack_s);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kInputSize));
  state.counters["copy_GBps"] =
      static_cast<double>(kInputSize) * static_cast<double>(state.iterations()) / copy_total / 1e9;
  state.counters["copy_ratio"] = median(copy_ratios);
  state.counters["copy_ratio_min"] = *std::min_element(copy_ratios.begin(), copy_ratios.end());
  state.counters["wb_copy_ratio"] = median(writeback_ratios);
  state.counters["cipher_ratio"] = median(cipher_ratios);
}

// pack --integrity against pack of the same input, interleaved in every iteration (the
// target: >= 0.5): the tags are one more pass over the ciphertext (Poly1305, then one
// block of SM4 or AES-256 per tag) in the same workers, plus the tree and the tag area's
// write at the end. `ratio` is the median of the per-iteration ratios, `ratio_min` the
// smallest.
void BM_PackIntegrity(benchmark::State& state, const char* suite_name, std::uint32_t sector_size) {
  PackSetup setup = pack_setup(suite_name, sector_size);
  image::PackRequest& request = setup.request;
  const crypto::Key& provider = setup.provider;
  const auto timed_pack = [&](bool integrity) {
    request.integrity = integrity;
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(image::pack_image(request, provider));
    const double s = seconds_since(start);
    fs::remove(request.output);
    return s;
  };
  std::vector<double> ratios;
  double plain_total = 0, integrity_total = 0;
  unsigned turn = 0;
  for (auto _ : state) {
    double plain_s = 0, integrity_s = 0;
    for (unsigned step = 0; step < 2; ++step) {
      if ((turn + step) % 2 == 0) {
        plain_s = timed_pack(false);
      } else {
        integrity_s = timed_pack(true);
      }
    }
    ++turn;
    plain_total += plain_s;
    integrity_total += integrity_s;
    ratios.push_back(plain_s / integrity_s);  // throughput with tags over without
    state.SetIterationTime(integrity_s);
  }
  const auto bytes = static_cast<double>(kInputSize) * static_cast<double>(state.iterations());
  state.counters["pack_MBps"] = bytes / plain_total / 1e6;
  state.counters["integrity_MBps"] = bytes / integrity_total / 1e6;
  state.counters["ratio"] = median(ratios);
  state.counters["ratio_min"] = *std::min_element(ratios.begin(), ratios.end());
}

BENCHMARK_CAPTURE(BM_PackIntegrity, sm_4096, "sm", 4096)
    ->UseManualTime()
    ->Iterations(7)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PackIntegrity, nist_4096, "nist", 4096)
    ->UseManualTime()
    ->Iterations(7)
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_PlainCopy)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_Pack, sm_4096, "sm", 4096)
    ->UseManualTime()
    ->Iterations(9)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pack, sm_512, "sm", 512)
    ->UseManualTime()
    ->Iterations(9)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pack, nist_4096, "nist", 4096)
    ->UseManualTime()
    ->Iterations(9)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pack, nist_512, "nist", 512)
    ->UseManualTime()
    ->Iterations(9)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pack, sm_4096_1_thread, "sm", 4096, 1)
    ->UseManualTime()
    ->Iterations(9)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pack, sm_4096_2_threads, "sm", 4096, 2)
    ->UseManualTime()
    ->Iterations(9)
    ->Unit(benchmark::kMillisecond);

}  // namespace
