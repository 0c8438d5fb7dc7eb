// Boots real guest programs through the PSP launch flow and the guest CPU.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/file_io.h"
#include "crypto/suite.h"
#include "hw/npt.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "support/guest_expectations.h"
#include "support/temp_dir.h"
#include "vmm/vmm.h"
#include "vmm/vmm_error.h"

namespace cvmsim::vmm {
namespace {

using crypto::SuiteId;

Bytes guest_image(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

struct World {
  explicit World(SuiteId suite) {
    pki::create_vendor(dir / "vendor", suite, "V", false);
    pki::create_chip(dir / "vendor", dir / "chip", false);
    pki::create_provider(dir / "provider", suite, "P", false);
    provider_key = pki::load_provider_key(dir / "provider");
    platform = std::make_unique<Platform>(dir / "chip");
  }
  LaunchRequest request(const Bytes& firmware, measure::Policy policy = {}) const {
    const Bytes digest =
        measure::measure_plan(measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "fw"),
                              provider_key.suite());
    LaunchRequest r;
    r.firmware = firmware;
    r.reference = measure::sign_reference(provider_key, policy, digest).encode();
    r.provider_key = provider_key.public_der();
    r.policy = policy;
    return r;
  }
  test::TempDir dir;
  crypto::Key provider_key = crypto::Key::generate(SuiteId::sm);
  std::unique_ptr<Platform> platform;
};

class BootForSuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(BootForSuite, HelloPrintsAndExits) {
  World world(GetParam());
  Vmm vmm(*world.platform);
  const auto vm = vmm.launch(world.request(guest_image("hello")));
  const RunResult r = vmm.run(vm);
  EXPECT_EQ(r.fate, VmFate::exited) << r.detail;
  EXPECT_EQ(r.exit_status, 0u);
  EXPECT_EQ(r.console, "hello from a confidential VM\n");
  EXPECT_GT(r.stats.nested_page_faults, 0u);  // at least the stack page
}

TEST_P(BootForSuite, MemwalkChecksumMatchesTheHostInEveryGuardMode) {
  for (measure::GuardMode guard :
       {measure::GuardMode::off, measure::GuardMode::detect, measure::GuardMode::isolate}) {
    World world(GetParam());
    Vmm vmm(*world.platform);
    measure::Policy policy;
    policy.guard = guard;
    const auto vm = vmm.launch(world.request(guest_image("memwalk"), policy));
    const RunResult r = vmm.run(vm);
    ASSERT_EQ(r.fate, VmFate::exited) << r.detail;
    EXPECT_EQ(r.console, fmt::format("memwalk checksum {:016x}\n", test::memwalk_checksum()));
    EXPECT_GE(r.stats.pages_mapped, 1024u);
    EXPECT_GE(r.stats.nested_page_faults, 1024u / 16);
  }
}

// mov rdi, 64 MiB; mov ecx, blocks; l: mov [rdi], dil; add rdi, 2 MiB; dec ecx; jnz l;
// mov eax, 0; mov dx, 0x501; out dx, eax; hlt: one store in each of `blocks` 2 MiB blocks.
Bytes one_store_per_block(std::uint32_t blocks) {
  Bytes code = {0x48, 0xc7, 0xc7, 0x00, 0x00, 0x00, 0x04, 0xb9};
  for (int i = 0; i < 4; ++i) code.push_back(static_cast<std::uint8_t>(blocks >> (8 * i)));
  code.insert(code.end(), {0x40, 0x88, 0x3f,                          // l: mov [rdi], dil
                           0x48, 0x81, 0xc7, 0x00, 0x00, 0x20, 0x00,  // add rdi, 2 MiB
                           0xff, 0xc9, 0x75, 0xf2,                    // dec ecx; jnz l
                           0xb8, 0x00, 0x00, 0x00, 0x00,              // mov eax, 0
                           0x66, 0xba, 0x01, 0x05, 0xef, 0xf4});      // out 0x501; hlt
  return code;
}

// Every fresh block takes a leaf table and a Merkle frame from the VM's donated pool, so a
// guest that touches many blocks makes the VMM donate again and again. Donations come out
// of 2 MiB runs kept for them, so the host's free frames stay in a few large runs; cut from
// the front of the free space, each left a small run behind at the next aligned backing
// allocation, and every later one had to step over them all.
TEST_P(BootForSuite, ManyDonationsLeaveTheHostsFreeFramesInFewRuns) {
  World world(GetParam());
  Vmm vmm(*world.platform);
  measure::Policy policy;
  policy.guard = measure::GuardMode::detect;
  policy.npt_integrity = measure::NptIntegrity::merkle;
  vmm.set_fault_around(1);
  LaunchRequest request = world.request(one_store_per_block(1000), policy);
  request.memory_size = 4ull << 30;
  const auto vm = vmm.launch(request);
  const std::size_t runs_at_launch = world.platform->frames().free_runs();
  const RunResult r = vmm.run(vm);
  ASSERT_EQ(r.fate, VmFate::exited) << r.detail;
  EXPECT_GE(r.stats.pages_mapped, 1000u);
  EXPECT_GE(world.platform->psp().vm_info(vm)->table_pages, 1000u);  // so about 60 donations
  EXPECT_LE(world.platform->frames().free_runs(), runs_at_launch + 1);
}

TEST_P(BootForSuite, TamperedOrReorderedFirmwareIsRefusedAtLaunchVerify) {
  World world(GetParam());
  Vmm vmm(*world.platform);
  LaunchRequest request = world.request(guest_image("memwalk"));
  request.firmware[100] ^= 1;
  try {
    (void)vmm.launch(request);
    FAIL() << "tampered firmware launched";
  } catch (const VmmError& e) {
    EXPECT_NE(std::string(e.what()).find("measurement_mismatch"), std::string::npos) << e.what();
  }
  // A reference signed by someone else is refused too.
  LaunchRequest forged = world.request(guest_image("hello"));
  forged.provider_key = crypto::suite(GetParam()).generate_key().public_der();
  EXPECT_THROW((void)vmm.launch(forged), VmmError);
}

INSTANTIATE_TEST_SUITE_P(Suites, BootForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

TEST(Isolation, TwoVmsRunOnOnePlatformAndTheVmmSeesOnlyCiphertext) {
  World world(SuiteId::sm);
  Vmm vmm(*world.platform);
  const auto a = vmm.launch(world.request(guest_image("memwalk")));
  const auto b = vmm.launch(world.request(guest_image("memwalk")));
  EXPECT_EQ(vmm.run(a).fate, VmFate::exited);
  EXPECT_EQ(vmm.run(b).fate, VmFate::exited);
  auto& mc = world.platform->memory_controller();
  const auto info_a = *world.platform->psp().vm_info(a);
  const auto info_b = *world.platform->psp().vm_info(b);
  EXPECT_NE(info_a.asid, info_b.asid);
  // The test reads as each VM's vCPU would, through the bindings the PSP issued.
  const hw::Requester as_a = world.platform->psp().vcpu_binding(a)->requester();
  const hw::Requester as_b = world.platform->psp().vcpu_binding(b)->requester();
  // Where does VM a keep GPA 0x1000000 (its memwalk region)?
  const auto t = hw::npt::walk(mc, info_a.npt_root, 0x1000000, hw::npt::Access::read);
  ASSERT_TRUE(t.ok());
  // memwalk wrote mix(64) at word 64 of its first page (byte offset 512).
  std::uint8_t own[8];
  mc.read(t.translation->hpa + 512, own, as_a);
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | own[i];
  EXPECT_EQ(value, test::memwalk_mix(64));
  Bytes page_a(hw::kFrameSize);
  Bytes seen_by_vmm(hw::kFrameSize);
  Bytes seen_by_b(hw::kFrameSize);
  mc.read(t.translation->hpa & ~0xfffULL, page_a, as_a);
  mc.read(t.translation->hpa & ~0xfffULL, seen_by_vmm, hw::kHostAccess);
  mc.read(t.translation->hpa & ~0xfffULL, seen_by_b, as_b);
  EXPECT_NE(seen_by_vmm, page_a);
  EXPECT_NE(seen_by_b, page_a);
  EXPECT_NE(seen_by_b, seen_by_vmm);
}

}  // namespace
}  // namespace cvmsim::vmm
