// NPT_MAP latency of the guarded NPT versus how much guest memory is already mapped, for
// the literal `full` characteristic value and the `merkle` one (sm suite, detect mode).
// Run: build/bin/cvmsim-bench --benchmark_filter=NptMap
#include <benchmark/benchmark.h>

#include <filesystem>

#include "crypto/suite.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "vmm/vmm.h"

namespace {

using namespace cvmsim;
namespace fs = std::filesystem;

// One platform + VM per (algorithm, mapped size), with `mapped_pages` already mapped.
struct MappedVm {
  MappedVm(measure::NptIntegrity integrity, std::uint64_t mapped_pages) {
    dir = fs::temp_directory_path() / ("cvmsim-bench-npt-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    pki::create_vendor(dir / "v", crypto::SuiteId::sm, "V", false);
    pki::create_chip(dir / "v", dir / "c", false);
    const crypto::Key provider = crypto::suite(crypto::SuiteId::sm).generate_key();
    platform = std::make_unique<vmm::Platform>(dir / "c");
    vmm = std::make_unique<vmm::Vmm>(*platform);
    measure::Policy policy;
    policy.npt_integrity = integrity;
    const Bytes firmware(4096, 0xf4);  // HLT
    const Bytes digest = measure::measure_plan(
        measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "fw"),
        crypto::SuiteId::sm);
    vm = vmm->launch({firmware, measure::sign_reference(provider, policy, digest).encode(),
                      provider.public_der(), policy, 1ull << 40});
    donate(mapped_pages / 512 + 64);
    // Map in 1 GiB commands from GPA 4 GiB up.
    for (std::uint64_t done = 0; done < mapped_pages;) {
      const std::uint64_t n = std::min<std::uint64_t>(mapped_pages - done, 1ull << 18);
      map(next_gpa, n);
      next_gpa += n * 4096;
      done += n;
    }
  }
  ~MappedVm() { fs::remove_all(dir); }
  void donate(std::uint64_t frames) {
    psp::NptDonate d{vm, {}};
    for (std::uint64_t i = 0; i < frames; ++i) d.frames.push_back(platform->frames().allocate(1)->hpa);
    platform->psp().execute(d);
  }
  void map(std::uint64_t gpa, std::uint64_t pages) {
    const auto run = platform->frames().allocate(pages);
    const auto r = platform->psp().execute(psp::NptMap{vm, gpa, run->hpa, pages, {}});
    if (!r.ok()) throw std::runtime_error(std::string(psp::to_string(r.result.status)));
  }

  fs::path dir;
  std::unique_ptr<vmm::Platform> platform;
  std::unique_ptr<vmm::Vmm> vmm;
  psp::VmHandle vm = 0;
  std::uint64_t next_gpa = 4ull << 30;
};

void BM_NptMap(benchmark::State& state) {
  const auto integrity = static_cast<measure::NptIntegrity>(state.range(0));
  const auto mapped = static_cast<std::uint64_t>(state.range(1)) * 256;  // MiB -> pages
  MappedVm m(integrity, mapped);
  // Single 4 KiB mappings at fresh GPAs inside an existing leaf table's neighbourhood.
  std::uint64_t gpa = 2ull << 40;
  for (auto _ : state) {
    state.PauseTiming();
    if ((gpa & 0x1fffff) == 0) m.donate(8);
    state.ResumeTiming();
    m.map(gpa, 1);
    gpa += 4096;
  }
  state.counters["table_pages"] =
      static_cast<double>(m.platform->psp().vm_info(m.vm)->table_pages);
  state.counters["psp_private_bytes"] =
      static_cast<double>(m.platform->psp().vm_info(m.vm)->private_memory);
  state.SetLabel(std::string(measure::to_string(integrity)) + ", " +
                 std::to_string(state.range(1)) + " MiB mapped");
}

BENCHMARK(BM_NptMap)
    ->ArgsProduct({{0, 1}, {4, 256, 4096}})
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(200);

}  // namespace
