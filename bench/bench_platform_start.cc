// The cost of the PSP's boot-time DRAM alias check (docs/benchmarks.md, "Platform start
// and the DRAM alias check"): platform starts (host memory, memory controller, disk
// controller, PSP) with the check and without it, alternating within each iteration so
// both see the same machine load; reported: the median of the per-iteration ratios and
// the median times. The check probes one frame per power-of-two distance of the 1 TiB
// host memory (28 probes) and hands the frames back.
// Run: build/bin/cvmsim-bench --benchmark_filter=BM_PlatformStart
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/scratch_dir.h"
#include "lab/world.h"
#include "psp/chip_fuses.h"
#include "vmm/platform.h"

namespace cvmsim {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void BM_PlatformStart(benchmark::State& state) {
  const ScratchDir dir("cvmsim-bench-start");
  const lab::World world(dir.path(), crypto::SuiteId::sm);
  const psp::ChipFuses fuses = psp::load_chip_fuses(world.chip_dir());
  // Seconds to build and tear down one platform.
  const auto start = [&](bool check) {
    vmm::PlatformOptions options;
    options.psp.dram_alias_check = check;
    const auto t0 = Clock::now();
    {
      vmm::Platform platform(fuses.clone(), options);
      if (!platform.psp().boot_result().ok()) state.SkipWithError("the platform refused");
      benchmark::DoNotOptimize(platform.psp().dram_alias_check());
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  std::vector<double> with, without, ratios;
  for (auto _ : state) {
    const double plain = start(false);
    const double checked = start(true);
    without.push_back(plain);
    with.push_back(checked);
    ratios.push_back(checked / plain);
    state.SetIterationTime(checked);
  }
  state.counters["with_check_us"] = median(with) * 1e6;
  state.counters["without_check_us"] = median(without) * 1e6;
  state.counters["check_vs_none"] = median(ratios);
}
BENCHMARK(BM_PlatformStart)->UseManualTime()->Iterations(201)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cvmsim
