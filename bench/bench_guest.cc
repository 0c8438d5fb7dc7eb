// Guest CPU benchmarks (docs/benchmarks.md, "Guest CPU"):
//  - a compute loop through hw::GuestCpu versus bare Unicorn running the same bytes in the
//    same iterations (the target: >= 50% of bare speed);
//  - a nested page fault round trip: exit to the caller, write the NPT entry, resume and
//    retry the access (no PSP: its NPT_MAP cost is measured with the PSP);
//  - Unicorn's region-map cost versus the number of regions already mapped: why the guest
//    CPU gives Unicorn one region for its whole guest-physical window (hw/cpu/window_tlb.h).
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <unicorn/unicorn.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "crypto/suite.h"
#include "hw/guest_cpu.h"
#include "hw/npt.h"

namespace cvmsim::hw {

// The PSP's seat, for benchmarks only (keys, frame tags, the vCPU binding).
struct HardwareTestAccess {
  static PspPasskey passkey() { return {}; }
};

namespace {

constexpr std::uint64_t kCode = 0x100000;

// rcx = iterations (IN from port 0x90); rax = 1; rdx = K;
// loop: imul rax, rdx; add rax, rcx; dec rcx; jnz loop; out 0x80, eax; hlt
Bytes compute_loop() {
  return {0xe5, 0x90, 0x89, 0xc1,                                      // in eax; mov ecx, eax
          0xb8, 0x01, 0,    0,    0,                                   // mov eax, 1
          0x48, 0xba, 0x2d, 0x7f, 0x95, 0x4c, 0x2d, 0xf4, 0x51, 0x58,  // movabs rdx, K
          0x48, 0x0f, 0xaf, 0xc2, 0x48, 0x01, 0xc8, 0x48, 0xff, 0xc9, 0x75, 0xf4, 0xe7, 0x80, 0xf4};
}

// A small machine: an NPT, frames handed out by a bump allocator, and a vCPU using key
// slot `asid` (0: memory encryption off, so that mapping a frame costs no re-encryption
// and the fault benchmark measures the CPU and NPT side alone; the PSP's page conversion
// and NPT_MAP are measured with the PSP).
struct Machine {
  explicit Machine(std::uint32_t key_asid = 1) : asid(key_asid) {
    if (asid != 0) mc.load_key(HardwareTestAccess::passkey(), asid, crypto::random_bytes(32));
  }
  HostMemory memory{1ull << 40};
  MemoryController mc{memory, crypto::SuiteId::sm};
  std::uint32_t asid;
  std::uint64_t next = 0x100000000;
  std::uint64_t root = frame();
  npt::Editor editor{mc, Requester::psp(HardwareTestAccess::passkey())};
  GuestCpu cpu{mc, VcpuBinding::issue(HardwareTestAccess::passkey(), asid, root)};

  std::uint64_t frame() {
    next += kFrameSize;
    return next - kFrameSize;
  }
  void map(std::uint64_t gpa) {
    const std::uint64_t f = frame();
    if (asid != 0) {
      mc.set_tag(HardwareTestAccess::passkey(), f, {asid, 1, FrameUse::guest, FrameGuard::none});
    }
    const npt::Editor::TableAllocator allocate = [this] { return frame(); };
    editor.write_entry(*editor.leaf_entry_address(root, gpa, &allocate),
                       npt::make_entry(f, npt::kPresent | npt::kWritable | npt::kExecutable));
  }
  void load(std::uint64_t gpa, ByteView code) {
    map(gpa);
    const auto w = npt::walk(mc, root, gpa, npt::Access::read);
    mc.write(w.translation->hpa, code, Requester::psp(HardwareTestAccess::passkey(), asid));
  }
};

constexpr std::uint32_t kIterations = 20'000'000;

// One run of the compute loop in bare Unicorn: code in one uc_mem_map_ptr region, no hook
// but IN. Returns the seconds uc_emu_start took.
double bare_unicorn_loop(void* page) {
  uc_engine* uc = nullptr;
  uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
  uc_mem_map_ptr(uc, kCode, kFrameSize, UC_PROT_ALL, page);
  uc_hook hook{};
  const auto in =
      +[](uc_engine*, std::uint32_t, int, void*) -> std::uint32_t { return kIterations; };
  uc_hook_add(uc, &hook, UC_HOOK_INSN, reinterpret_cast<void*>(in), nullptr, 1, 0, UC_X86_INS_IN);
  const auto start = std::chrono::steady_clock::now();
  uc_emu_start(uc, kCode, 0, 0, 0);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t rax = 0;
  uc_reg_read(uc, UC_X86_REG_RAX, &rax);
  benchmark::DoNotOptimize(rax);
  uc_close(uc);
  return s;
}

// The same bytes through hw::GuestCpu (NPT, memory controller, fiber, preemption timer).
double guest_cpu_loop() {
  Machine m;
  m.load(kCode, compute_loop());
  m.cpu.set_entry(kCode, kCode, 0x2);
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const VmExit e = m.cpu.run();
    if (e.kind == VmExit::Kind::io_in) m.cpu.complete_io_in(kIterations);
    if (e.kind == VmExit::Kind::nested_page_fault) m.map(e.fault.gpa & ~std::uint64_t{0xfff});
    if (e.kind == VmExit::Kind::halt || e.kind == VmExit::Kind::guest_fault) break;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  benchmark::DoNotOptimize(m.cpu.registers().rax);
  return s;
}

// Bare Unicorn and the guest CPU alternate within each iteration, so that the machine's
// drifting speed hits both alike; guest_vs_bare is the median of the per-iteration
// ratios (the target: >= 0.5).
void BM_ComputeLoop(benchmark::State& state) {
  void* page =
      ::mmap(nullptr, kFrameSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const Bytes code = compute_loop();
  std::memcpy(page, code.data(), code.size());
  double bare_total = 0, guest_total = 0;
  std::vector<double> ratios;
  for (auto _ : state) {
    const double bare = bare_unicorn_loop(page);
    const double guest = guest_cpu_loop();
    bare_total += bare;
    guest_total += guest;
    ratios.push_back(bare / guest);
    state.SetIterationTime(guest);
  }
  ::munmap(page, kFrameSize);
  std::sort(ratios.begin(), ratios.end());
  const auto loops = static_cast<double>(state.iterations()) * kIterations;
  state.counters["bare_Mloops_per_s"] = loops / bare_total / 1e6;
  state.counters["guest_Mloops_per_s"] = loops / guest_total / 1e6;
  state.counters["guest_vs_bare"] = ratios[ratios.size() / 2];
  state.counters["guest_vs_bare_min"] = ratios.front();
}
BENCHMARK(BM_ComputeLoop)->UseManualTime()->Iterations(15)->Unit(benchmark::kMillisecond);

// Every store touches a new page. Each benchmark iteration is one nested page fault, the
// mapping of `state.range(0)` pages from the faulting one (the VMM's batch; the following
// faults of the batch become exit-free TLB fills) and the retried store.
void BM_NestedPageFaultRoundTrip(benchmark::State& state) {
  const auto batch = static_cast<std::uint64_t>(state.range(0));
  Machine m(0);
  // rdi = 1 GiB; loop: mov [rdi], rdi; add rdi, 4096; jmp loop
  m.load(kCode,
         Bytes{0xbf, 0, 0, 0, 0x40, 0x48, 0x89, 0x3f, 0x48, 0x81, 0xc7, 0, 0x10, 0, 0, 0xeb, 0xf4});
  m.cpu.set_entry(kCode, kCode, 0x2);
  for (auto _ : state) {
    const VmExit e = m.cpu.run();
    if (e.kind != VmExit::Kind::nested_page_fault) {
      state.SkipWithError("expected a nested page fault");
      break;
    }
    for (std::uint64_t i = 0; i < batch; ++i) {
      m.map((e.fault.gpa & ~std::uint64_t{0xfff}) + i * kFrameSize);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));  // pages
  state.counters["pages_aliased"] = static_cast<double>(m.cpu.stats().pages_aliased);
}
BENCHMARK(BM_NestedPageFaultRoundTrip)
    ->Arg(1)
    ->Arg(16)
    ->Iterations(10000)
    ->Unit(benchmark::kMicrosecond);

// One more one-page region with `state.range(0)` regions already mapped, then unmapped.
void BM_UnicornRegionMap(benchmark::State& state) {
  const auto regions = static_cast<std::uint64_t>(state.range(0));
  void* backing = ::mmap(nullptr, (regions + 1) * kFrameSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  auto* bytes = static_cast<std::uint8_t*>(backing);
  uc_engine* uc = nullptr;
  uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
  for (std::uint64_t i = 0; i < regions; ++i) {
    uc_mem_map_ptr(uc, 0x10000000 + 2 * i * kFrameSize, kFrameSize, UC_PROT_ALL,
                   bytes + i * kFrameSize);
  }
  for (auto _ : state) {
    uc_mem_map_ptr(uc, 0x08000000, kFrameSize, UC_PROT_ALL, bytes + regions * kFrameSize);
    uc_mem_unmap(uc, 0x08000000, kFrameSize);
  }
  uc_close(uc);
  ::munmap(backing, (regions + 1) * kFrameSize);
}
BENCHMARK(BM_UnicornRegionMap)
    ->Arg(8)
    ->Arg(32)
    ->Arg(96)
    ->Arg(256)
    ->Arg(1024)
    ->Unit(benchmark::kMicrosecond);

// Bare Unicorn: byte loads versus byte stores over a data page (not the code page), so the
// cost of a guest store is measured on its own. Unicorn 2.0.1 hard-codes QEMU's dirty-memory
// bitmap as "always clean", so every store to RAM takes the notdirty slow path (a tree
// allocated and freed per store, page_collection_lock); fixed upstream after 2.0.1. This
// is why the guest SDK keeps its per-request stores few (guest/sdk/secure.c).
void BM_UnicornByteAccess(benchmark::State& state) {
  const bool store = state.range(0) != 0;
  constexpr std::uint64_t kData = 0x200000;
  constexpr int kAccesses = 4096;
  void* backing =
      ::mmap(nullptr, 2 * kFrameSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  auto* bytes = static_cast<std::uint8_t*>(backing);
  // mov ecx, 4096; l: mov [rdi+rcx-1], al (or mov al, [rdi+rcx-1]); dec rcx; jnz l; hlt
  const Bytes code = {0xb9, 0x00, 0x10, 0x00, 0x00, store ? std::uint8_t{0x88} : std::uint8_t{0x8a},
                      0x44, 0x0f, 0xff, 0x48, 0xff, 0xc9,
                      0x75, 0xf7, 0xf4};
  std::memcpy(bytes, code.data(), code.size());
  uc_engine* uc = nullptr;
  uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
  uc_mem_map_ptr(uc, kCode, kFrameSize, UC_PROT_ALL, bytes);
  uc_mem_map_ptr(uc, kData, kFrameSize, UC_PROT_READ | UC_PROT_WRITE, bytes + kFrameSize);
  for (auto _ : state) {
    std::uint64_t rdi = kData, rax = 0x5a;
    uc_reg_write(uc, UC_X86_REG_RDI, &rdi);
    uc_reg_write(uc, UC_X86_REG_RAX, &rax);
    uc_emu_start(uc, kCode, kCode + code.size() - 1, 0, 0);
  }
  std::uint64_t rcx = 1;
  uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
  if (rcx != 0 || (store && (bytes[kFrameSize] != 0x5a || bytes[2 * kFrameSize - 1] != 0x5a))) {
    state.SkipWithError("the access loop did not run to completion");
  }
  uc_close(uc);
  ::munmap(backing, 2 * kFrameSize);
  state.SetItemsProcessed(state.iterations() * kAccesses);
  state.counters["ns_per_access"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kAccesses,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_UnicornByteAccess)->Arg(0)->Arg(1)->ArgName("store")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cvmsim::hw
