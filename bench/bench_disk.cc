// Guest disk reads (docs/benchmarks.md, "Guest disk reads"): the `checksum` kernel reads
// its whole encrypted volume through secure calls, PSP validation, DMA, the crypto
// coprocessor and the memory encryption engine; compared in the same run with the raw
// XTS decryption throughput of the suite (the target: guest reads >= 50% of it).
// Run: build/bin/cvmsim-bench --benchmark_filter=GuestSequentialRead
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "common/file_io.h"
#include "common/scratch_dir.h"
#include "crypto/suite.h"
#include "lab/world.h"

namespace cvmsim {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kVolumeBytes = 64ull << 20;

Bytes guest(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

struct DiskRig {
  DiskRig(crypto::SuiteId suite, std::uint32_t sector_size,
          std::uint64_t volume_bytes = kVolumeBytes, const std::string& kernel = "checksum",
          bool integrity = false) {
    world = std::make_unique<lab::World>(dir.path(), suite);
    lab::ImageSpec spec;
    spec.volume.kernel = guest(kernel);
    spec.volume.free_space = volume_bytes;
    spec.sector_size = sector_size;
    spec.integrity = integrity;
    if (kernel == "checksum") {
      spec.volume.free_space = 0;
      spec.volume.files.push_back({"data", crypto::random_bytes(volume_bytes)});
    }
    image = dir / "disk.img";
    bytes = world->make_image(spec, image).data_length;
  }
  ScratchDir dir{"cvmsim-bench"};
  fs::path image;
  std::unique_ptr<lab::World> world;
  std::uint64_t bytes = 0;
};

// One boot of the `checksum` kernel over the rig's image, reads only; returns the seconds
// the guest ran (launch excluded).
double timed_read_boot(DiskRig& rig, benchmark::State& state, const measure::Policy& policy = {}) {
  vmm::Platform platform(rig.world->chip_dir());
  vmm::Vmm vmm(platform);
  vmm::LaunchRequest request = rig.world->launch_request(guest("image_boot"), policy);
  request.disk = rig.image;
  request.host_input = {'n'};  // reads only: the guest does not hash
  const psp::VmHandle vm = vmm.launch(request);
  const auto start = std::chrono::steady_clock::now();
  const vmm::RunResult r = vmm.run(vm);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.exit_status != 0u) state.SkipWithError(r.console.c_str());
  return seconds;
}

// The steady-state read rate is the difference of two boots that differ only in volume
// size (kSmallVolumeBytes and kVolumeBytes), so the fixed cost of a boot (firmware, raw
// header read, IMAGE_CERT with its signature checks and key unwrap, kernel load) cancels.
// The baseline, the suite's XTS decrypting 1 MiB buffers in sector units (the disk
// controller's unit of work), is timed in the same iterations, interleaved with the boots,
// so that machine noise affects both sides alike.
constexpr std::uint64_t kSmallVolumeBytes = 8ull << 20;

void BM_GuestSequentialRead(benchmark::State& state) {
  const auto suite = static_cast<crypto::SuiteId>(state.range(0));
  const auto sector_size = static_cast<std::uint32_t>(state.range(1));
  DiskRig small(suite, sector_size, kSmallVolumeBytes);
  DiskRig large(suite, sector_size, kVolumeBytes);
  const auto cipher =
      crypto::suite(suite).new_xts(crypto::random_bytes(crypto::suite(suite).xts_key_size()));
  Bytes buffer = crypto::random_bytes(1u << 20);
  double small_seconds = 0, large_seconds = 0, xts_seconds = 0;
  std::uint64_t xts_bytes = 0;
  for (auto _ : state) {
    small_seconds += timed_read_boot(small, state);
    large_seconds += timed_read_boot(large, state);
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t done = 0; done < large.bytes - small.bytes; done += buffer.size()) {
      cipher->decrypt_units(done / sector_size, sector_size, buffer, buffer);
      xts_bytes += buffer.size();
    }
    xts_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const auto iterations = static_cast<double>(state.iterations());
  const double guest_rate =
      static_cast<double>(large.bytes - small.bytes) * iterations / (large_seconds - small_seconds);
  const double crypto_rate = static_cast<double>(xts_bytes) / xts_seconds;
  state.counters["guest_MBps"] = guest_rate / 1e6;
  state.counters["xts_MBps"] = crypto_rate / 1e6;
  state.counters["ratio_vs_xts"] = guest_rate / crypto_rate;
  state.counters["boot_ms"] =
      1e3 * (small_seconds / iterations) - 1e3 * static_cast<double>(small.bytes) / guest_rate;
}
BENCHMARK(BM_GuestSequentialRead)
    ->ArgsProduct({{static_cast<int>(crypto::SuiteId::sm), static_cast<int>(crypto::SuiteId::nist)},
                   {512, 4096}})
    ->ArgNames({"suite", "sector"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

// The read rates of two kinds of boot, A and B, each measured as the difference between a
// boot of the large image and one of the small one, all four interleaved in every
// iteration so that load from elsewhere on the machine hits them alike.
struct ReadRates {
  double a = 0;  // bytes per second
  double b = 0;
  // B's time per byte over A's, from the fastest boot of each of the four: less disturbed
  // by other load than the mean.
  double fastest_b_over_a = 0;
};

// `boots`: A small, B small, A large, B large, each returning its seconds.
ReadRates interleaved_read_rates(benchmark::State& state, std::uint64_t bytes_apart,
                                 const std::array<std::function<double()>, 4>& boots) {
  std::array<std::vector<double>, 4> seconds;
  for (auto _ : state) {
    for (std::size_t k = 0; k < boots.size(); ++k) seconds[k].push_back(boots[k]());
  }
  const auto total = [&](std::size_t k) {
    return std::accumulate(seconds[k].begin(), seconds[k].end(), 0.0);
  };
  const auto fastest = [&](std::size_t k) {
    return *std::min_element(seconds[k].begin(), seconds[k].end());
  };
  const double bytes = static_cast<double>(bytes_apart) * static_cast<double>(state.iterations());
  return {bytes / (total(2) - total(0)), bytes / (total(3) - total(1)),
          (fastest(3) - fastest(1)) / (fastest(2) - fastest(0))};
}

// The memory protections' cost on the guest's disk reads (docs/benchmarks.md, "Memory
// protections"): the same difference of two boots, sm and 4 KiB sectors, with the policy
// without them and with memory-integrity and ciphertext-hiding both on, interleaved in
// every iteration; reported: both read rates and their ratio. A read of 56 MiB lasts tens
// of milliseconds, so on a loaded machine one preempted boot swings the difference of
// means; the ratio of the fastest boots of each kind (`cost_ratio_min`) estimates the cost
// with the interference left out, and is the figure docs/benchmarks.md gives beside it.
void BM_GuestSequentialReadProtections(benchmark::State& state) {
  DiskRig small(crypto::SuiteId::sm, 4096, kSmallVolumeBytes);
  DiskRig large(crypto::SuiteId::sm, 4096, kVolumeBytes);
  measure::Policy protected_policy;
  protected_policy.memory_integrity = true;
  protected_policy.ciphertext_hiding = true;
  const ReadRates rates =
      interleaved_read_rates(state, large.bytes - small.bytes,
                             {[&] { return timed_read_boot(small, state); },
                              [&] { return timed_read_boot(small, state, protected_policy); },
                              [&] { return timed_read_boot(large, state); },
                              [&] { return timed_read_boot(large, state, protected_policy); }});
  state.counters["guest_MBps"] = rates.a / 1e6;
  state.counters["protected_MBps"] = rates.b / 1e6;
  // Time per byte with the protections over time per byte without (<= 1.10: the target).
  state.counters["cost_ratio"] = rates.a / rates.b;
  state.counters["cost_ratio_min"] = rates.fastest_b_over_a;
}
BENCHMARK(BM_GuestSequentialReadProtections)->Unit(benchmark::kMillisecond)->Iterations(15);

// Authenticated images (pack --integrity) against plain protected ones: the same
// difference of two boots for each, interleaved in every iteration (the target: the
// authenticated read rate >= 0.5 of the plain one). The authenticated read checks every
// sector's tag (Poly1305 over the ciphertext, enciphered with SM4 or AES-256) before it
// decrypts, and a boot hashes the tree's leaves (one per 256 tags).
void BM_GuestSequentialReadAuthenticated(benchmark::State& state) {
  const auto suite = static_cast<crypto::SuiteId>(state.range(0));
  const auto sector_size = static_cast<std::uint32_t>(state.range(1));
  DiskRig small(suite, sector_size, kSmallVolumeBytes);
  DiskRig large(suite, sector_size, kVolumeBytes);
  DiskRig small_tagged(suite, sector_size, kSmallVolumeBytes, "checksum", true);
  DiskRig large_tagged(suite, sector_size, kVolumeBytes, "checksum", true);
  const ReadRates rates =
      interleaved_read_rates(state, large.bytes - small.bytes,
                             {[&] { return timed_read_boot(small, state); },
                              [&] { return timed_read_boot(small_tagged, state); },
                              [&] { return timed_read_boot(large, state); },
                              [&] { return timed_read_boot(large_tagged, state); }});
  state.counters["plain_MBps"] = rates.a / 1e6;
  state.counters["authenticated_MBps"] = rates.b / 1e6;
  state.counters["ratio"] = rates.b / rates.a;
  state.counters["ratio_min"] = 1 / rates.fastest_b_over_a;
}
BENCHMARK(BM_GuestSequentialReadAuthenticated)
    ->ArgsProduct({{static_cast<int>(crypto::SuiteId::sm), static_cast<int>(crypto::SuiteId::nist)},
                   {4096}})
    ->ArgNames({"suite", "sector"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(7);

// Boot time versus image size: launch (measurement, LAUNCH_VERIFY) and the encrypted boot
// of disk_demo (raw header read, IMAGE_CERT, kernel load, state block read/write/flush) on
// images whose data area grows; the boot reads a fixed amount, so it should not grow.
void BM_BootTime(benchmark::State& state) {
  const std::uint64_t volume = static_cast<std::uint64_t>(state.range(0)) << 20;
  DiskRig rig(crypto::SuiteId::sm, 4096, volume, "disk_demo");
  for (auto _ : state) {
    vmm::Platform platform(rig.world->chip_dir());
    vmm::Vmm vmm(platform);
    vmm::LaunchRequest request = rig.world->launch_request(guest("image_boot"));
    request.disk = rig.image;
    const psp::VmHandle vm = vmm.launch(request);
    const vmm::RunResult r = vmm.run(vm);
    if (r.exit_status != 0u) state.SkipWithError(r.console.c_str());
  }
  state.counters["image_MiB"] = static_cast<double>(rig.bytes >> 20);
}
BENCHMARK(BM_BootTime)
    ->Arg(16)
    ->Arg(256)
    ->Arg(1024)
    ->ArgName("volume_MiB")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

// The cost of the event trace: the same boot as BM_BootTime (16 MiB volume) alternately
// without and with a recorder, in each iteration, so the machine's drift hits both alike;
// traced_vs_untraced is the median of the per-iteration ratios (target: <= 1.10).
double timed_boot(const DiskRig& rig, trace::Recorder* recorder) {
  const auto start = std::chrono::steady_clock::now();
  vmm::Platform platform(rig.world->chip_dir(), {.trace = recorder});
  vmm::Vmm vmm(platform);
  vmm::LaunchRequest request = rig.world->launch_request(guest("image_boot"));
  request.disk = rig.image;
  const psp::VmHandle vm = vmm.launch(request);
  const vmm::RunResult r = vmm.run(vm);
  if (r.exit_status != 0u) throw std::runtime_error("boot failed: " + r.console);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void BM_BootTraced(benchmark::State& state) {
  DiskRig rig(crypto::SuiteId::sm, 4096, 16ull << 20, "disk_demo");
  std::vector<double> ratios;
  std::size_t events = 0;
  for (auto _ : state) {
    const double plain = timed_boot(rig, nullptr);
    trace::Recorder recorder;
    const double traced = timed_boot(rig, &recorder);
    events = recorder.events().size();
    ratios.push_back(traced / plain);
    state.SetIterationTime(traced);
  }
  std::sort(ratios.begin(), ratios.end());
  state.counters["traced_vs_untraced"] = ratios[ratios.size() / 2];
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_BootTraced)->UseManualTime()->Iterations(21)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cvmsim
