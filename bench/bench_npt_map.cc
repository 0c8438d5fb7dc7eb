// The guarded NPT versus guest size: NPT_MAP latency, periodic-check cost and PSP memory,
// for the literal `full` characteristic value and the `merkle` one, both suites, detect
// mode. Results and method: docs/benchmarks.md, "NPT_MAP in the PSP".
//
// Each case builds one platform and one VM and fills its NPT with `size` of shared
// mappings in 1 GiB NPT_MAP commands (shared pages stay host memory, so 64 GiB of guest
// memory costs only its tables, not 64 GiB of RAM); the sparse case maps 16 pages at the
// start of every GiB of a 1 TiB guest-physical range. Then it times single 4 KiB private
// NPT_MAPs into one leaf table that already exists (the common case: 511 of 512 faults
// find their leaf table) and reports the median, 90th and 99th percentiles, and the
// amortised cost per page with the deferred Merkle work included; NptMap16 does the
// same with the VMM's 16-page fault-around ranges and reports per 4 KiB page.
// Run: build/bin/cvmsim-bench --benchmark_filter='NptMap|NptCheck'
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "crypto/suite.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "vmm/vmm.h"

namespace {

using namespace cvmsim;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kGiBPages = 1ull << 18;
constexpr std::uint64_t kFillBase = 4ull << 30;
constexpr std::int64_t kSparse1TiB = -1;

struct MappedVm {
  MappedVm(measure::NptIntegrity integrity, crypto::SuiteId suite, std::int64_t size_gib) {
    dir = fs::temp_directory_path() / ("cvmsim-bench-npt-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    pki::create_vendor(dir / "v", suite, "V", false);
    pki::create_chip(dir / "v", dir / "c", false);
    const crypto::Key provider = crypto::suite(suite).generate_key();
    platform = std::make_unique<vmm::Platform>(dir / "c");
    vmm = std::make_unique<vmm::Vmm>(*platform);
    vmm->set_check_interval(0);
    measure::Policy policy;
    policy.npt_integrity = integrity;
    const Bytes firmware(4096, 0xf4);  // HLT
    const Bytes digest = measure::measure_plan(
        measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "fw"), suite);
    vmm::LaunchRequest request;
    request.firmware = firmware;
    request.reference = measure::sign_reference(provider, policy, digest).encode();
    request.provider_key = provider.public_der();
    request.policy = policy;
    request.memory_size = 1ull << 40;
    vm = vmm->launch(request);
    if (size_gib == kSparse1TiB) {
      for (std::uint64_t g = 0; g < 1024; ++g) map(kFillBase + (g << 30), 16, true);
      probe_gpa = kFillBase + (1023ull << 30) + (1ull << 21);
    } else {
      const auto pages = static_cast<std::uint64_t>(size_gib) * kGiBPages;
      // All but the last 2 MiB in 1 GiB commands, then one page that creates the last
      // leaf table: the timed mappings fill that table.
      for (std::uint64_t done = 0; done + 512 < pages;) {
        const std::uint64_t n = std::min(pages - 512 - done, kGiBPages);
        map(kFillBase + done * 4096, n, true);
        done += n;
      }
      probe_gpa = kFillBase + (pages - 512) * 4096;
    }
    map(probe_gpa, 1, false);
    probe_gpa += 4096;
  }
  ~MappedVm() { fs::remove_all(dir); }

  void donate(std::uint64_t frames) {
    psp::NptDonate d{vm, {}};
    for (std::uint64_t i = 0; i < frames; ++i)
      d.frames.push_back(platform->frames().allocate(1)->hpa);
    if (!platform->psp().execute(d).ok()) throw std::runtime_error("NPT_DONATE refused");
  }
  // NPT_MAP, donating what the PSP asks for first (outside any timing).
  void map(std::uint64_t gpa, std::uint64_t pages, bool shared) {
    const auto run = platform->frames().allocate(pages);
    psp::MapPermissions perms;
    perms.shared = shared;
    for (;;) {
      const auto r = platform->psp().execute(psp::NptMap{vm, gpa, run->hpa, pages, perms});
      if (r.ok()) return;
      if (r.result.status != psp::Status::resource_exhausted) {
        throw std::runtime_error(std::string(psp::to_string(r.result.status)));
      }
      donate(r.result.detail);
    }
  }
  psp::VmInfo info() const { return *platform->psp().vm_info(vm); }

  fs::path dir;
  std::unique_ptr<vmm::Platform> platform;
  std::unique_ptr<vmm::Vmm> vmm;
  psp::VmHandle vm = 0;
  std::uint64_t probe_gpa = 0;
};

std::string size_label(std::int64_t size_gib) {
  return size_gib == kSparse1TiB ? "sparse 1 TiB" : std::to_string(size_gib) + " GiB";
}

void set_memory_counters(benchmark::State& state, const MappedVm& m) {
  const psp::VmInfo info = m.info();
  state.counters["table_pages"] = static_cast<double>(info.table_pages);
  state.counters["guard_frames"] = static_cast<double>(info.guard_frames);
  state.counters["psp_private_bytes"] = static_cast<double>(info.private_memory);
  state.counters["guard_directory_bytes"] = static_cast<double>(info.guard_directory_bytes);
}

// `pages` per NPT_MAP: 1 (one fault, one page) or 16 (the VMM's fault-around range); the
// counters are per 4 KiB mapping.
void BM_NptMap(benchmark::State& state, measure::NptIntegrity integrity, crypto::SuiteId suite,
               std::int64_t size_gib, std::uint64_t pages) {
  MappedVm m(integrity, suite, size_gib);
  m.donate(64);                                   // no donation inside the timed loop
  if (pages > 1) m.probe_gpa += (16 - 1) * 4096;  // 16-page aligned ranges in the same table
  std::vector<double> us;
  for (auto _ : state) {
    const auto hpa = m.platform->frames().allocate(pages)->hpa;
    const auto start = Clock::now();
    const auto r = m.platform->psp().execute(psp::NptMap{m.vm, m.probe_gpa, hpa, pages, {}});
    const auto stop = Clock::now();
    if (!r.ok()) {
      state.SkipWithError(std::string(psp::to_string(r.result.status)).c_str());
      break;
    }
    const double seconds = std::chrono::duration<double>(stop - start).count();
    state.SetIterationTime(seconds);
    us.push_back(seconds * 1e6 / static_cast<double>(pages));
    m.probe_gpa += pages * 4096;
  }
  if (!us.empty()) {
    // The Merkle interior a mapping leaves for later (TableGuard::settle) is work it
    // caused: the amortised figure charges the final settle to the timed mappings.
    const auto settle_start = Clock::now();
    (void)m.platform->psp().npt_digest(m.vm);
    const double settle_us =
        std::chrono::duration<double, std::micro>(Clock::now() - settle_start).count();
    double total_us = settle_us;
    for (double u : us) total_us += u * static_cast<double>(pages);
    state.counters["amortised_us"] = total_us / static_cast<double>(us.size() * pages);
    std::sort(us.begin(), us.end());
    state.counters["median_us"] = us[us.size() / 2];
    state.counters["p90_us"] = us[us.size() * 9 / 10];
    state.counters["p99_us"] = us[us.size() * 99 / 100];
  }
  set_memory_counters(state, m);
  state.SetLabel(std::string(measure::to_string(integrity)) + ", " +
                 std::string(crypto::to_string(suite)) + ", " + size_label(size_gib));
}

// The periodic whole-table check (recomputation from the table pages alone), and for
// merkle one amortised tick of 64 pages.
void BM_NptCheck(benchmark::State& state, measure::NptIntegrity integrity, crypto::SuiteId suite,
                 std::int64_t size_gib) {
  MappedVm m(integrity, suite, size_gib);
  for (auto _ : state) {
    const auto start = Clock::now();
    const auto stopped = m.platform->psp().periodic_check();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    if (!stopped.empty()) state.SkipWithError("the check stopped an untouched VM");
  }
  if (integrity == measure::NptIntegrity::merkle) {
    m.vmm->set_check_interval(1, 64);
    std::uint64_t now = 0;
    const auto start = Clock::now();
    constexpr int kTicks = 50;
    for (int i = 0; i < kTicks; ++i) (void)m.platform->psp().advance_clock(++now);
    state.counters["tick_64_pages_us"] =
        std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kTicks;
  }
  set_memory_counters(state, m);
  state.SetLabel(std::string(measure::to_string(integrity)) + ", " +
                 std::string(crypto::to_string(suite)) + ", " + size_label(size_gib));
}

const bool registered = [] {
  const std::int64_t sizes[] = {1, 4, 16, 64, kSparse1TiB};
  for (auto suite : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    for (auto integrity : {measure::NptIntegrity::merkle, measure::NptIntegrity::full}) {
      for (std::int64_t size : sizes) {
        const std::string name =
            std::string(measure::to_string(integrity)) + "/" +
            std::string(crypto::to_string(suite)) + "/" +
            (size == kSparse1TiB ? std::string("sparse1TiB") : std::to_string(size) + "GiB");
        const bool full = integrity == measure::NptIntegrity::full;
        const std::int64_t map_iterations = !full ? 300 : size >= 16 ? 5 : 20;
        benchmark::RegisterBenchmark(("NptMap/" + name).c_str(), BM_NptMap, integrity, suite, size,
                                     1)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->Iterations(map_iterations);
        if (!full) {
          // 30 ranges of 16 pages fill the prepared leaf table (511 free entries).
          benchmark::RegisterBenchmark(("NptMap16/" + name).c_str(), BM_NptMap, integrity, suite,
                                       size, 16)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond)
              ->Iterations(30);
        }
        benchmark::RegisterBenchmark(("NptCheck/" + name).c_str(), BM_NptCheck, integrity, suite,
                                     size)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->Iterations(size >= 16 ? 2 : 5);
      }
    }
  }
  return true;
}();

}  // namespace
