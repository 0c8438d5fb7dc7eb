// Guest memory at scale (docs/benchmarks.md, "Guest memory at scale"): does a nested page
// fault cost the same whatever memory the guest has already touched?
//
// One VM (guard `detect`, Merkle characteristic value, sm suite, one page mapped per
// fault) runs a guest that
//  1. stores one byte per 2 MiB over `size` bytes of guest memory: every store is a
//     fault in a fresh 2 MiB block (a new host run, a new leaf table, new guest-CPU
//     backing), and the guest's footprint grows to size / 2 MiB blocks;
//  2. then, with that footprint in place, stores one byte per 4 KiB over the first
//     min(size, 64 MiB): every store but the first of each block is a fault inside a
//     block that is already backed.
// The 4 KiB phase stops at 64 MiB because the point is the cost of a fault with the large
// footprint present, and 64 GiB of resident frames does not fit this machine's 23 GiB.
//
// Reported per size: median and 99th percentile of the time from one fault exit to the
// next (a round trip: exit, VMM, NPT_MAP in the PSP, resume, TLB fill, the store, a few
// instructions) for each phase, the run's total wall and CPU time (launch excluded), and
// host memory in use at the end (the simulated DRAM's resident bytes).
// Run: build/bin/cvmsim-bench --benchmark_filter=BM_GuestMemoryScale
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "crypto/suite_id.h"
#include "fault_timing.h"
#include "hw/cpu/vm_exit.h"
#include "vmm/vmm.h"

namespace cvmsim {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kBase = 16ull << 20;  // above the firmware and its stack
constexpr std::uint64_t kBlock = 2ull << 20;
constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kDensePhaseMax = 64ull << 20;
constexpr std::uint8_t kPhasePort = 0x80;  // no device: the OUT between the phases

void put_u64(Bytes& code, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) code.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// rdi = base; rcx = count; rsi = stride; l: mov [rdi], al; add rdi, rsi; dec rcx; jnz l
void store_loop(Bytes& code, std::uint64_t base, std::uint64_t count, std::uint64_t stride) {
  code.insert(code.end(), {0x48, 0xbf});  // movabs rdi, base
  put_u64(code, base);
  code.insert(code.end(), {0x48, 0xb9});  // movabs rcx, count
  put_u64(code, count);
  code.insert(code.end(), {0x48, 0xbe});  // movabs rsi, stride
  put_u64(code, stride);
  code.insert(code.end(), {0x88, 0x07,        // l: mov [rdi], al
                           0x48, 0x01, 0xf7,  // add rdi, rsi
                           0x48, 0xff, 0xc9,  // dec rcx
                           0x75, 0xf6});      // jnz l
}

Bytes scale_guest(std::uint64_t size) {
  Bytes code = {0xb0, 0x01};  // mov al, 1
  store_loop(code, kBase, size / kBlock, kBlock);
  code.insert(code.end(), {0xe6, kPhasePort});  // out 0x80, al
  store_loop(code, kBase, std::min(size, kDensePhaseMax) / kPage, kPage);
  code.insert(code.end(), {0xb8, 0, 0, 0, 0,        // mov eax, 0
                           0x66, 0xba, 0x01, 0x05,  // mov dx, 0x501
                           0xef, 0xf4});            // out dx, eax; hlt
  return code;
}

// The time of every nested-page-fault exit, and where the phases meet.
class FaultClock final : public vmm::Misbehaviour {
 public:
  void on_exit(vmm::Platform&, vmm::Vmm&, psp::VmHandle, const hw::VmExit& exit) override {
    if (exit.kind == hw::VmExit::Kind::nested_page_fault) {
      (dense ? dense_times : sparse_times).push_back(Clock::now());
    } else if (exit.kind == hw::VmExit::Kind::io_out && exit.port == kPhasePort) {
      dense = true;
    }
  }
  bool dense = false;
  std::vector<Clock::time_point> sparse_times;
  std::vector<Clock::time_point> dense_times;
};

void add_intervals(const std::vector<Clock::time_point>& times, std::vector<double>& us) {
  for (std::size_t i = 0; i + 1 < times.size(); ++i) {
    us.push_back(std::chrono::duration<double, std::micro>(times[i + 1] - times[i]).count());
  }
}

// This process's CPU time: on a shared machine the wall clock also counts time spent
// waiting for a core.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void BM_GuestMemoryScale(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0)) << 20;
  const bench::FaultTimingWorld world("cvmsim-bench-scale", crypto::SuiteId::sm,
                                      measure::GuardMode::detect, scale_guest(size));
  std::vector<double> sparse_us, dense_us;
  double total_s = 0;
  double cpu_s = 0;
  double host_bytes = 0;
  for (auto _ : state) {
    vmm::Platform platform(world.chip_dir());
    vmm::Vmm vmm(platform);
    auto clock = std::make_shared<FaultClock>();
    const psp::VmHandle vm = world.launch(vmm, kBase + size, 1, clock);
    const auto start = Clock::now();
    const double cpu_start = process_cpu_seconds();
    const vmm::RunResult r = vmm.run(vm);
    total_s += std::chrono::duration<double>(Clock::now() - start).count();
    cpu_s += process_cpu_seconds() - cpu_start;
    if (r.exit_status != 0u) {
      state.SkipWithError("the scaling guest did not run to completion");
      break;
    }
    host_bytes = static_cast<double>(platform.memory().resident_bytes());
    add_intervals(clock->sparse_times, sparse_us);
    add_intervals(clock->dense_times, dense_us);
  }
  const auto runs = static_cast<double>(state.iterations());
  state.counters["block_median_us"] = percentile(sparse_us, 0.5);
  state.counters["block_p99_us"] = percentile(sparse_us, 0.99);
  state.counters["page_median_us"] = percentile(dense_us, 0.5);
  state.counters["page_p99_us"] = percentile(dense_us, 0.99);
  double block_phase_s = 0;  // the one-byte-per-2-MiB phase on its own
  for (const double us : sparse_us) block_phase_s += us * 1e-6;
  state.counters["block_phase_s"] = block_phase_s / runs;
  state.counters["total_s"] = total_s / runs;
  state.counters["total_cpu_s"] = cpu_s / runs;
  state.counters["host_MiB"] = host_bytes / (1 << 20);
  state.counters["faults"] = static_cast<double>(sparse_us.size() + dense_us.size()) / runs;
}
// Guest memory in MiB: 4 MiB ... 64 GiB.
BENCHMARK(BM_GuestMemoryScale)
    ->ArgName("MiB")
    ->Arg(4)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(4096)
    ->Arg(16384)
    ->Arg(65536)
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace cvmsim
