// The guarded NPT against a hypervisor that edits table entries behind the PSP's back.
#include <gtest/gtest.h>

#include "common/file_io.h"
#include "hw/hw_error.h"
#include "hw/npt.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "support/temp_dir.h"
#include "vmm/vmm.h"

namespace cvmsim::vmm {
namespace {

namespace npt = hw::npt;
using crypto::SuiteId;
using measure::GuardMode;
using measure::NptIntegrity;

struct GuardedVm {
  GuardedVm(GuardMode guard, NptIntegrity integrity) {
    pki::create_vendor(dir / "v", SuiteId::sm, "V", false);
    pki::create_chip(dir / "v", dir / "c", false);
    pki::create_provider(dir / "p", SuiteId::sm, "P", false);
    const crypto::Key key = pki::load_provider_key(dir / "p");
    platform = std::make_unique<Platform>(dir / "c");
    vmm = std::make_unique<Vmm>(*platform);
    vmm->set_check_interval(0);  // the tests fire the PSP timer themselves
    policy.guard = guard;
    policy.npt_integrity = integrity;
    const Bytes firmware = read_file(std::string(CVMSIM_GUEST_DIR) + "/hello.bin");
    const Bytes digest = measure::measure_plan(
        measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "fw"), SuiteId::sm);
    LaunchRequest r{firmware, measure::sign_reference(key, policy, digest).encode(),
                    key.public_der(), policy, 256ull << 20};
    vm = vmm->launch(r);
  }
  // The leaf entry that maps the firmware's first page.
  std::uint64_t firmware_entry() {
    const auto info = *platform->psp().vm_info(vm);
    npt::Editor editor(platform->memory_controller(), hw::kHostAccess);
    return *editor.leaf_entry_address(info.npt_root, 0x100000, nullptr);
  }
  // The hypervisor flips one bit of that entry by writing host memory directly.
  void tamper() {
    const std::uint64_t at = firmware_entry();
    std::uint8_t byte = 0;
    platform->memory_controller().read(at + 1, {&byte, 1}, hw::kHostAccess);
    byte ^= 0x10;  // frame number bit 12: the entry now points at the next frame
    platform->memory_controller().write(at + 1, {&byte, 1}, hw::kHostAccess);
  }
  void donate(std::size_t frames) {
    psp::NptDonate d{vm, {}};
    for (std::size_t i = 0; i < frames; ++i) d.frames.push_back(platform->frames().allocate(1)->hpa);
    ASSERT_TRUE(platform->psp().execute(d).ok());
  }
  psp::Response map_one(std::uint64_t gpa) {
    const auto hpa = platform->frames().allocate(1)->hpa;
    return platform->psp().execute(psp::NptMap{vm, gpa, hpa, 1, {}});
  }

  test::TempDir dir;
  measure::Policy policy;
  std::unique_ptr<Platform> platform;
  std::unique_ptr<Vmm> vmm;
  psp::VmHandle vm = 0;
};

class DetectMode : public ::testing::TestWithParam<NptIntegrity> {};

TEST_P(DetectMode, TamperedEntryRefusesTheNextMapAndThePeriodicCheckStopsTheVm) {
  GuardedVm g(GuardMode::detect, GetParam());
  ASSERT_TRUE(g.map_one(0x400000).ok());
  g.tamper();
  // The next mapping through the same tables is refused.
  const psp::Response r = g.map_one(0x101000);
  EXPECT_EQ(r.result.status, psp::Status::npt_tampered);
  // The periodic check sees the whole table and stops the VM; later commands fail.
  EXPECT_EQ(g.platform->psp().periodic_check(), std::vector<psp::VmHandle>{g.vm});
  const auto info = *g.platform->psp().vm_info(g.vm);
  EXPECT_EQ(info.state, psp::VmState::stopped);
  EXPECT_EQ(info.stop_reason, psp::StopReason::npt_tampered);
  EXPECT_EQ(g.map_one(0x800000).result.status, psp::Status::vm_stopped);
}

TEST_P(DetectMode, UntouchedTablesPassEveryCheck) {
  GuardedVm g(GuardMode::detect, GetParam());
  g.donate(64);
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(g.map_one(0x10000000 + i * 0x200000).ok());
  EXPECT_TRUE(g.platform->psp().periodic_check().empty());
  EXPECT_EQ(g.vmm->run(g.vm).fate, VmFate::exited);
}

INSTANTIATE_TEST_SUITE_P(Integrity, DetectMode,
                         ::testing::Values(NptIntegrity::full, NptIntegrity::merkle),
                         [](const auto& param_info) {
                           return std::string(measure::to_string(param_info.param));
                         });

TEST(IsolateMode, TheMemoryControllerBlocksHostWritesToTables) {
  GuardedVm g(GuardMode::isolate, NptIntegrity::merkle);
  EXPECT_THROW(g.tamper(), hw::HwError);
  EXPECT_TRUE(g.map_one(0x101000).ok());
  EXPECT_TRUE(g.platform->psp().periodic_check().empty());
}

TEST(OffMode, TheHypervisorsEditGoesThroughUnnoticed) {
  GuardedVm g(GuardMode::off, NptIntegrity::merkle);
  g.tamper();  // no guard: the SEV-class baseline
  EXPECT_TRUE(g.platform->psp().periodic_check().empty());
  // The guest's first page now comes from another frame: it no longer runs its own code.
  const RunResult r = g.vmm->run(g.vm, std::chrono::seconds(5));
  EXPECT_NE(r.console, "hello from a confidential VM\n");
}

}  // namespace
}  // namespace cvmsim::vmm
