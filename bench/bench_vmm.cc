// The nested page fault round trip through the real VMM and PSP (docs/benchmarks.md,
// "Nested page fault round trip"): the guest exits on a store to an unmapped page, the
// VMM asks the PSP for NPT_MAP of its fault-around range (guarded modes: 1 page, or the
// default 16) or writes the entry itself (`off`), the vCPU resumes, retries the store (an exit-free
// TLB fill maps the new range) and runs on to the next fault. The guest touches one page
// every 64 KiB, so every store is a fault and the time from one fault exit to the next is
// one round trip plus two instructions. Reported: median and 90th percentile per fault;
// the target is a median <= 20 us.
// Run: build/bin/cvmsim-bench --benchmark_filter=BM_FaultRoundTrip
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "crypto/suite_id.h"
#include "fault_timing.h"
#include "vmm/vmm.h"

namespace cvmsim {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kStride = 0x10000;        // 32 faults per 2 MiB block
constexpr std::uint32_t kBlockStride = 0x200000;  // every fault in a new block

// rdi = 64 MiB; ecx = n; l: mov [rdi], rdi; add rdi, stride; dec ecx; jnz l;
// mov eax, 0; mov dx, 0x501; out dx, eax; hlt
Bytes fault_loop(std::uint32_t n, std::uint32_t stride) {
  return {0x48,
          0xc7,
          0xc7,
          0x00,
          0x00,
          0x00,
          0x04,  // mov rdi, 0x4000000
          0xb9,
          static_cast<std::uint8_t>(n),
          static_cast<std::uint8_t>(n >> 8),
          static_cast<std::uint8_t>(n >> 16),
          static_cast<std::uint8_t>(n >> 24),  // mov ecx, n
          0x48,
          0x89,
          0x3f,  // l: mov [rdi], rdi
          0x48,
          0x81,
          0xc7,
          static_cast<std::uint8_t>(stride),
          static_cast<std::uint8_t>(stride >> 8),
          static_cast<std::uint8_t>(stride >> 16),
          static_cast<std::uint8_t>(stride >> 24),  // add rdi, stride
          0xff,
          0xc9,  // dec ecx
          0x75,
          0xf2,  // jnz l
          0xb8,
          0x00,
          0x00,
          0x00,
          0x00,  // mov eax, 0
          0x66,
          0xba,
          0x01,
          0x05,   // mov dx, 0x501
          0xef,   // out dx, eax
          0xf4};  // hlt
}

// Records the time of every nested-page-fault exit (a well-behaved VMM otherwise).
class FaultClock final : public vmm::Misbehaviour {
 public:
  void on_exit(vmm::Platform&, vmm::Vmm&, psp::VmHandle, const hw::VmExit& exit) override {
    if (exit.kind == hw::VmExit::Kind::nested_page_fault) times.push_back(Clock::now());
  }
  std::vector<Clock::time_point> times;
};

void BM_FaultRoundTrip(benchmark::State& state, measure::GuardMode guard, crypto::SuiteId suite,
                       std::uint64_t fault_around, std::uint32_t stride) {
  // 3000 faults 64 KiB apart; 400 faults 2 MiB apart (each reserves and populates a new
  // 2 MiB host run, and the guest CPU maps a new window for it).
  const std::uint32_t faults = stride == kStride ? 3000 : 400;
  const bench::FaultTimingWorld world("cvmsim-bench-fault", suite, guard,
                                      fault_loop(faults, stride));
  std::vector<double> us;
  for (auto _ : state) {
    vmm::Platform platform(world.chip_dir());
    vmm::Vmm vmm(platform);
    auto clock = std::make_shared<FaultClock>();
    const psp::VmHandle vm = world.launch(vmm, 1ull << 30, fault_around, clock);
    const vmm::RunResult r = vmm.run(vm);
    if (r.exit_status != 0u || r.stats.nested_page_faults < faults) {
      state.SkipWithError("the fault loop did not run to completion");
      break;
    }
    // Intervals between consecutive faults of the loop (the first faults fetch the code
    // and touch the stack; skip them).
    for (std::size_t i = 8; i + 1 < clock->times.size(); ++i) {
      us.push_back(
          std::chrono::duration<double, std::micro>(clock->times[i + 1] - clock->times[i]).count());
    }
  }
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["median_us"] = us[us.size() / 2];
  state.counters["p90_us"] = us[us.size() * 9 / 10];
  state.counters["faults"] = static_cast<double>(us.size());
  state.counters["pages_per_fault"] =
      static_cast<double>(guard == measure::GuardMode::off ? 1 : fault_around);
}

// The memory protections' cost on the round trip (docs/benchmarks.md, "Memory
// protections"): each iteration runs the loop without them, with memory-integrity, with
// ciphertext-hiding and with both, interleaved so that machine noise touches all alike;
// reported: each one's median and its ratio to the median without.
void BM_FaultRoundTripProtections(benchmark::State& state) {
  constexpr std::uint32_t kFaults = 3000;
  const bench::FaultTimingWorld world("cvmsim-bench-fault", crypto::SuiteId::sm,
                                      measure::GuardMode::detect, fault_loop(kFaults, kStride));
  const std::pair<bool, bool> variants[] = {
      {false, false}, {true, false}, {false, true}, {true, true}};
  std::vector<double> us[std::size(variants)];
  for (auto _ : state) {
    for (std::size_t v = 0; v < std::size(variants); ++v) {
      vmm::Platform platform(world.chip_dir());
      vmm::Vmm vmm(platform);
      auto clock = std::make_shared<FaultClock>();
      const psp::VmHandle vm =
          world.launch(vmm, 1ull << 30, 1, clock, variants[v].first, variants[v].second);
      const vmm::RunResult r = vmm.run(vm);
      if (r.exit_status != 0u || r.stats.nested_page_faults < kFaults) {
        state.SkipWithError("the fault loop did not run to completion");
        return;
      }
      for (std::size_t i = 8; i + 1 < clock->times.size(); ++i) {
        us[v].push_back(
            std::chrono::duration<double, std::micro>(clock->times[i + 1] - clock->times[i])
                .count());
      }
    }
  }
  double medians[std::size(variants)];
  for (std::size_t v = 0; v < std::size(variants); ++v) {
    std::sort(us[v].begin(), us[v].end());
    medians[v] = us[v][us[v].size() / 2];
  }
  state.counters["median_us"] = medians[0];
  state.counters["integrity_median_us"] = medians[1];
  state.counters["hiding_median_us"] = medians[2];
  state.counters["both_median_us"] = medians[3];
  state.counters["integrity_ratio"] = medians[1] / medians[0];
  state.counters["hiding_ratio"] = medians[2] / medians[0];
  state.counters["both_ratio"] = medians[3] / medians[0];
}
BENCHMARK(BM_FaultRoundTripProtections)->Iterations(3)->Unit(benchmark::kMillisecond);

// `off`: the VMM writes one NPT entry itself (no PSP). Guarded: one NPT_MAP per fault of
// one page (the round trip as such) or of the VMM's default 16-page range. `new_block`:
// every fault in a fresh 2 MiB block (the worst case of the VMM's huge-page backing).
BENCHMARK_CAPTURE(BM_FaultRoundTrip, off, measure::GuardMode::off, crypto::SuiteId::sm, 1, kStride)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaultRoundTrip, detect_sm_1, measure::GuardMode::detect, crypto::SuiteId::sm,
                  1, kStride)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaultRoundTrip, isolate_sm_1, measure::GuardMode::isolate, crypto::SuiteId::sm,
                  1, kStride)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaultRoundTrip, detect_nist_1, measure::GuardMode::detect,
                  crypto::SuiteId::nist, 1, kStride)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaultRoundTrip, detect_sm_16, measure::GuardMode::detect, crypto::SuiteId::sm,
                  16, kStride)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaultRoundTrip, detect_sm_1_new_block, measure::GuardMode::detect,
                  crypto::SuiteId::sm, 1, kBlockStride)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cvmsim
