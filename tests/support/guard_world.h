// A platform with VMs for the guarded-NPT tests, and the hypervisor's direct accesses to
// table memory that the attacks are made of (host-CPU reads and writes of NPT frames).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "common/file_io.h"
#include "hw/npt.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "support/temp_dir.h"
#include "vmm/vmm.h"

namespace cvmsim::vmm::test_support {

namespace npt = hw::npt;

inline measure::Policy guard_policy(measure::GuardMode guard, measure::NptIntegrity integrity) {
  measure::Policy p;
  p.guard = guard;
  p.npt_integrity = integrity;
  return p;
}

struct GuardWorld {
  explicit GuardWorld(crypto::SuiteId suite = crypto::SuiteId::sm) {
    pki::create_vendor(dir / "v", suite, "V", false);
    pki::create_chip(dir / "v", dir / "c", false);
    pki::create_provider(dir / "p", suite, "P", false);
    key = std::make_unique<crypto::Key>(pki::load_provider_key(dir / "p"));
    platform = std::make_unique<Platform>(dir / "c");
    vmm = std::make_unique<Vmm>(*platform);
    vmm->set_check_interval(0);  // tests drive the PSP timer themselves unless they say so
  }

  psp::VmHandle launch(const std::string& program, const measure::Policy& policy,
                       std::uint64_t memory = 256ull << 20) {
    const Bytes firmware = read_file(std::string(CVMSIM_GUEST_DIR) + "/" + program + ".bin");
    const Bytes digest = measure::measure_plan(
        measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "fw"), key->suite());
    LaunchRequest r;
    r.firmware = firmware;
    r.reference = measure::sign_reference(*key, policy, digest).encode();
    r.provider_key = key->public_der();
    r.policy = policy;
    r.memory_size = memory;
    return vmm->launch(r);
  }

  psp::Psp& psp() { return platform->psp(); }
  hw::MemoryController& mc() { return platform->memory_controller(); }
  psp::VmInfo info(psp::VmHandle vm) { return *psp().vm_info(vm); }

  // --- the hypervisor's view of table memory (host CPU, no key) ---
  std::uint64_t read_u64(std::uint64_t hpa) {
    return npt::Editor(mc(), hw::kHostAccess).read_entry(hpa);
  }
  // Throws hw::HwError{access_denied} where the memory controller blocks host writes.
  void write_u64(std::uint64_t hpa, std::uint64_t value) {
    npt::Editor(mc(), hw::kHostAccess).write_entry(hpa, value);
  }
  // The table page at `level` (3 = root) on the walk for `gpa`.
  std::optional<std::uint64_t> table_at(psp::VmHandle vm, std::uint64_t gpa, int level) {
    std::uint64_t table = info(vm).npt_root;
    for (int l = npt::kLevels - 1; l > level; --l) {
      const std::uint64_t e = read_u64(table + 8 * npt::index_at(gpa, l));
      if ((e & npt::kPresent) == 0) return std::nullopt;
      table = e & npt::kFrameMask;
    }
    return table;
  }
  // The host address of the entry at `level` for `gpa` (0 = the leaf entry).
  std::uint64_t entry_at(psp::VmHandle vm, std::uint64_t gpa, int level = 0) {
    const auto table = table_at(vm, gpa, level);
    EXPECT_TRUE(table.has_value()) << "no table at level " << level << " for " << gpa;
    return table.value_or(0) + 8 * npt::index_at(gpa, level);
  }
  std::uint64_t frame_of(psp::VmHandle vm, std::uint64_t gpa) {
    return read_u64(entry_at(vm, gpa)) & npt::kFrameMask;
  }
  // A frame of `vm` whose tag says `use` (e.g. one of its Merkle frames).
  std::optional<std::uint64_t> frame_used_as(psp::VmHandle vm, hw::FrameUse use) {
    for (std::uint64_t hpa : mc().frames_of(vm)) {
      if (mc().tag(hpa).use == use) return hpa;
    }
    return std::nullopt;
  }

  // --- the VMM's mailbox use ---
  void donate(psp::VmHandle vm, std::size_t frames) {
    psp::NptDonate d{vm, {}};
    for (std::size_t i = 0; i < frames; ++i)
      d.frames.push_back(platform->frames().allocate(1)->hpa);
    ASSERT_TRUE(psp().execute(d).ok());
  }
  // NPT_MAP of fresh frames, donating table frames as often as the PSP asks.
  psp::Response map(psp::VmHandle vm, std::uint64_t gpa, std::uint64_t pages = 1,
                    psp::MapPermissions perms = {}) {
    const auto run = platform->frames().allocate(pages);
    return map_frames(vm, gpa, run->hpa, pages, perms);
  }
  psp::Response map_frames(psp::VmHandle vm, std::uint64_t gpa, std::uint64_t hpa,
                           std::uint64_t pages = 1, psp::MapPermissions perms = {}) {
    for (;;) {
      const psp::Response r = psp().execute(psp::NptMap{vm, gpa, hpa, pages, perms});
      if (r.result.status != psp::Status::resource_exhausted) return r;
      donate(vm, static_cast<std::size_t>(r.result.detail));
    }
  }
  // Advances the PSP timer by `ticks` intervals of `interval` sim-us; returns the VMs it
  // stopped.
  std::vector<psp::VmHandle> tick(std::uint64_t ticks = 1, std::uint64_t interval = 100) {
    if (psp().check_timer().interval() != interval) {
      now = std::max(now, psp().check_timer().now());
      psp().set_periodic_check({interval, pages_per_tick});
    }
    now += ticks * interval;
    return psp().advance_clock(now);
  }

  test::TempDir dir;
  std::unique_ptr<crypto::Key> key;
  std::unique_ptr<Platform> platform;
  std::unique_ptr<Vmm> vmm;
  std::uint64_t now = 0;
  std::uint64_t pages_per_tick = 0;  // of the timer tick() configures (0: whole table)
};

}  // namespace cvmsim::vmm::test_support
