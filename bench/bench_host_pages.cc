// What the host kernel charges for the page operations behind a nested page fault
// (docs/benchmarks.md, "Fresh-block faults"). A fault's round trip pays some of these
// whatever the model does: they are the floor under BM_FaultRoundTrip, and they differ a
// lot between a bare-metal host and a virtualised one (where every new page-table entry
// may cost the outer hypervisor work), so a reader comparing machines needs them measured
// on the same machine as the round trip.
//
// Through the model's own classes: host memory's mapping of its memfd (hw::HostMemory)
// and a guest-physical window that aliases the same file (hw::cpu::GuestWindow), as the
// guest CPU does. Each case runs over 1000 pages; medians per page:
//   first_store_us          a store to a page that is a hole (a page fault allocates it)
//   punch_us                handing one resident page back (HostMemory::zero)
//   populate_us             MADV_POPULATE_WRITE of one hole page (HostMemory::populate)
//   store_after_populate_us the first store to that page after populating it
//   alias_us                mapping one resident page into the window (mmap MAP_FIXED)
//   window_populate_us      MADV_POPULATE_WRITE of it through the window
//   window_store_us         the first store through the window after that
// fresh_region:0: pages 64 KiB apart, so most share a 2 MiB region whose page tables
// exist; fresh_region:1: pages 2 MiB apart, each in a region touched for the first time
// (what a fault in a fresh 2 MiB block meets).
// Run: build/bin/cvmsim-bench --benchmark_filter=BM_HostPageCosts
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "hw/cpu/guest_window.h"
#include "hw/host_memory.h"

namespace cvmsim {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kPages = 1000;
constexpr std::uint64_t kPage = 4096;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename F>
double time_us(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

void BM_HostPageCosts(benchmark::State& state) {
  const std::uint64_t stride = state.range(0) == 0 ? 64 * 1024 : 2ull << 20;
  std::vector<double> first_store, punch, populate, store_after, alias, window_populate,
      window_store;
  for (auto _ : state) {
    hw::HostMemory memory((kPages * stride * 2 + hw::kChunkSize - 1) / hw::kChunkSize *
                          hw::kChunkSize);
    hw::cpu::GuestWindow window;
    for (std::uint64_t i = 0; i < kPages; ++i) {
      // Two pages per slot: one faulted in by a store, one populated.
      const std::uint64_t faulted = i * 2 * stride;
      const std::uint64_t populated = faulted + stride;
      std::uint8_t* const page = memory.frame(faulted);
      first_store.push_back(time_us([&] { *reinterpret_cast<volatile std::uint8_t*>(page) = 1; }));
      punch.push_back(time_us([&] { memory.zero(faulted, kPage); }));
      populate.push_back(time_us([&] { memory.populate(populated, kPage); }));
      std::uint8_t* const resident = memory.frame(populated);
      store_after.push_back(
          time_us([&] { *reinterpret_cast<volatile std::uint8_t*>(resident) = 1; }));
      // The window shows the populated page at the same offset, as a guest frame would be.
      bool aliased = false;
      alias.push_back(
          time_us([&] { aliased = window.alias(populated, kPage, memory.fd(), populated); }));
      if (!aliased) {
        state.SkipWithError("the kernel refused to alias a page into the window");
        return;
      }
      window_populate.push_back(time_us([&] { window.prefault(populated, kPage, true); }));
      std::uint8_t* const through_window = window.base() + populated + 8;
      window_store.push_back(
          time_us([&] { *reinterpret_cast<volatile std::uint8_t*>(through_window) = 1; }));
    }
  }
  state.counters["first_store_us"] = median(first_store);
  state.counters["punch_us"] = median(punch);
  state.counters["populate_us"] = median(populate);
  state.counters["store_after_populate_us"] = median(store_after);
  state.counters["alias_us"] = median(alias);
  state.counters["window_populate_us"] = median(window_populate);
  state.counters["window_store_us"] = median(window_store);
}
BENCHMARK(BM_HostPageCosts)
    ->ArgName("fresh_region")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cvmsim
