// The PSP's boot-time DRAM alias check (BadRAM's countermeasure): it finds an alias at a
// power-of-two distance that covers the first frame, refuses every command on such a
// platform with dram_aliased, leaves a sound platform's memory as it found it, and (an
// honest limit, documented in psp_dram_alias_check.cc) misses aliases it does not probe.
#include <gtest/gtest.h>

#include <memory>

#include "hw/disk/disk_controller.h"
#include "hw/host_memory.h"
#include "hw/memory_controller.h"
#include "pki/identity.h"
#include "psp/chip_fuses.h"
#include "psp/psp.h"
#include "support/temp_dir.h"

namespace cvmsim::psp {
namespace {

constexpr std::uint64_t kMemory = 64ull << 20;

// A chip's fuses, made once per test binary (key generation is the slow part).
const ChipFuses& fuses() {
  static const test::TempDir dir;
  static const ChipFuses loaded = [] {
    pki::create_vendor(dir.path() / "vendor", crypto::SuiteId::sm, "V", false);
    pki::create_chip(dir.path() / "vendor", dir.path() / "chip", false);
    return load_chip_fuses(dir.path() / "chip");
  }();
  return loaded;
}

struct Machine {
  explicit Machine(std::vector<hw::DramAlias> aliases, bool check = true)
      : memory(kMemory, std::move(aliases)), mc(memory, crypto::SuiteId::sm), disks(mc) {
    PspConfig config;
    config.dram_alias_check = check;
    psp = std::make_unique<Psp>(mc, disks, fuses().clone(), config);
  }
  hw::HostMemory memory;
  hw::MemoryController mc;
  hw::DiskController disks;
  std::unique_ptr<Psp> psp;
};

TEST(DramAliasCheck, ASoundPlatformStartsAndTheProbeLeavesNoFrameInUse) {
  Machine m({});
  EXPECT_TRUE(m.psp->boot_result().ok());
  EXPECT_EQ(m.psp->dram_alias_check(), attest::DramAliasCheck::passed);
  EXPECT_TRUE(m.psp->execute(PlatformStatus{}).ok());
  EXPECT_EQ(m.memory.resident_bytes(), 0u);  // probed frames went back to the host
}

TEST(DramAliasCheck, RefusesToStartWhenTheUpperHalfAliasesTheLowerHalf) {
  // What a tampered SPD makes: one address bit the DRAM ignores.
  Machine m({{.alias = kMemory / 2, .target = 0, .length = kMemory / 2}});
  EXPECT_EQ(m.psp->boot_result().status, Status::dram_aliased);
  EXPECT_EQ(m.psp->boot_result().detail, kMemory / 2);  // where the pattern showed
  const Response status = m.psp->execute(PlatformStatus{});
  EXPECT_EQ(status.result.status, Status::dram_aliased);
  const Response launch = m.psp->execute(LaunchStart{0, 16ull << 20});
  EXPECT_EQ(launch.result.status, Status::dram_aliased);
  // The probe put the first frame back as it found it (zeros), through either address.
  Bytes first(64);
  m.mc.read(kMemory / 2, first, hw::kHostAccess);
  EXPECT_EQ(first, Bytes(64, 0));
}

TEST(DramAliasCheck, FindsAnAliasAtAnyPowerOfTwoDistanceInEitherDirection) {
  for (const std::uint64_t distance :
       {std::uint64_t{1} << 12, std::uint64_t{1} << 20, std::uint64_t{1} << 24}) {
    Machine up({{.alias = distance, .target = 0, .length = hw::kFrameSize}});
    EXPECT_EQ(up.psp->boot_result().status, Status::dram_aliased) << distance;
    EXPECT_EQ(up.psp->boot_result().detail, distance);
    Machine down({{.alias = 0, .target = distance, .length = hw::kFrameSize}});
    EXPECT_EQ(down.psp->boot_result().status, Status::dram_aliased) << distance;
  }
}

TEST(DramAliasCheck, WithoutTheCheckAnAliasedPlatformStartsAndReportsNotRun) {
  Machine m({{.alias = kMemory / 2, .target = 0, .length = kMemory / 2}}, false);
  EXPECT_TRUE(m.psp->boot_result().ok());
  EXPECT_EQ(m.psp->dram_alias_check(), attest::DramAliasCheck::not_run);
  EXPECT_TRUE(m.psp->execute(PlatformStatus{}).ok());
}

// The check's documented limits: it probes from the first frame at power-of-two
// distances only. These aliases are real (the second test shows the cells are shared) and
// the check passes them: the test pins the limit so a change to it is a conscious one.
TEST(DramAliasCheck, MissesAliasesItDoesNotProbe) {
  const std::vector<hw::DramAlias> unprobed[] = {
      {{.alias = 3 * hw::kFrameSize, .target = 0, .length = hw::kFrameSize}},  // distance 3
      {{.alias = kMemory / 2 + hw::kFrameSize,
        .target = hw::kFrameSize,
        .length = kMemory / 2 - hw::kFrameSize}},  // spares the first frame
  };
  for (const auto& aliases : unprobed) {
    Machine m(aliases);
    EXPECT_TRUE(m.psp->boot_result().ok()) << aliases[0].alias;
    const Bytes mark{1, 2, 3, 4};
    m.mc.write(aliases[0].target, mark, hw::kHostAccess);
    Bytes seen(4);
    m.mc.read(aliases[0].alias, seen, hw::kHostAccess);
    EXPECT_EQ(seen, mark);
  }
}

}  // namespace
}  // namespace cvmsim::psp
