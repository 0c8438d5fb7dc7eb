// Same inputs, same run: the attack catalogue and a protected-image boot give the same event
// trace (digest) on every run, on an idle machine and while a CPU hog competes for both
// cores. Simulated time comes from executed guest code and fixed exit costs only
// (docs/architecture.md, "Simulated time"), so host load cannot move an event.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/file_io.h"
#include "lab/attacks/render.h"
#include "lab/world.h"
#include "support/temp_dir.h"
#include "trace/diff.h"
#include "trace/digest.h"
#include "vmm/vmm.h"

namespace cvmsim::lab {
namespace {

namespace fs = std::filesystem;

Bytes guest(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

// Busy threads on every core until destroyed, each bounded to two minutes in case a test
// hangs (the hog must not outlive its purpose).
class CpuHog {
 public:
  CpuHog() {
    const unsigned n = std::max(2u, std::thread::hardware_concurrency());
    const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    for (unsigned i = 0; i < n; ++i) {
      threads_.emplace_back([this, until] {
        volatile std::uint64_t x = 1;
        while (!stop_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < until) {
          for (int k = 0; k < 100'000; ++k) x = x * 6364136223846793005ull + 1;
        }
      });
    }
  }
  CpuHog(const CpuHog&) = delete;
  CpuHog& operator=(const CpuHog&) = delete;
  ~CpuHog() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// One boot of a fresh copy of `image` with a fixed nonce, traced; its digest.
std::string traced_boot(const World& world, const fs::path& image, const fs::path& copy) {
  fs::copy_file(image, copy, fs::copy_options::overwrite_existing);
  trace::Recorder recorder;
  {
    vmm::Platform platform(world.chip_dir(), {.trace = &recorder});
    vmm::Vmm vmm(platform);
    vmm::LaunchRequest request = world.launch_request(guest("image_boot"));
    request.disk = copy;
    request.host_input = Bytes(64, 0x5a);  // the tenant's nonce
    const psp::VmHandle vm = vmm.launch(request);
    const vmm::RunResult r = vmm.run(vm);
    EXPECT_EQ(r.fate, vmm::VmFate::exited) << r.detail << r.console;
    EXPECT_FALSE(r.host_output.empty());  // the attestation report
    vmm.decommission(vm);
  }
  EXPECT_GT(recorder.events().size(), 50u);
  return trace::digest(recorder.events());
}

TEST(Determinism, AProtectedImageBootGivesTheSameTraceIdleAndUnderLoad) {
  test::TempDir dir;
  const World world(dir.path(), crypto::SuiteId::sm);
  ImageSpec spec;
  spec.volume.kernel = guest("disk_demo");
  spec.volume.files.push_back({"motd", Bytes(16, 'm')});
  world.make_image(spec, dir.path() / "disk.img");
  const fs::path copy = dir.path() / "boot.img";
  const std::string idle = traced_boot(world, dir.path() / "disk.img", copy);
  EXPECT_EQ(traced_boot(world, dir.path() / "disk.img", copy), idle);
  {
    const CpuHog hog;
    EXPECT_EQ(traced_boot(world, dir.path() / "disk.img", copy), idle);
  }
}

// Every scenario in every guard mode, twice: idle, then with both cores busy. The
// silent-edit scenario's detection time, which once depended on host load, is part of it.
TEST(Determinism, TheAttackCatalogueGivesTheSameTraceIdleAndUnderLoad) {
  std::vector<std::vector<trace::Event>> runs;
  for (const bool loaded : {false, true}) {
    std::optional<CpuHog> hog;
    if (loaded) hog.emplace();
    trace::Recorder recorder;
    (void)attacks::run_catalogue(crypto::SuiteId::sm, {}, &recorder);
    EXPECT_GT(recorder.events().size(), 1000u);
    runs.push_back(recorder.events());
  }
  // On a difference, name the first event that differs rather than two digests.
  const auto divergence = trace::first_divergence(runs[0], runs[1]);
  EXPECT_FALSE(divergence.has_value())
      << trace::format_divergence(*divergence, runs[0], runs[1], 8);
  EXPECT_EQ(trace::digest(runs[0]), trace::digest(runs[1]));
}

}  // namespace
}  // namespace cvmsim::lab
