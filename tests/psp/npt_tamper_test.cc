// The tamper matrix of the guarded NPT: a hypervisor that edits table memory
// behind the PSP's back, in each guard mode and with both characteristic values.
//
//   detect:  the write lands; the next NPT_MAP whose walk reads the edited chunk is
//            refused (npt_tampered), the periodic check stops the VM, later commands fail
//            with vm_stopped (detail: StopReason::npt_tampered).
//   isolate: the memory controller refuses the host write; nothing changes.
//   off:     the edit goes through unnoticed; off_mode_attacks below run real guests and
//            assert what they observe.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hw/hw_error.h"
#include "support/guard_world.h"
#include "support/guest_expectations.h"

namespace cvmsim::vmm {
namespace {

using measure::GuardMode;
using measure::NptIntegrity;
using test_support::guard_policy;
using test_support::GuardWorld;
namespace npt = hw::npt;

enum class Tamper { flip_bit, other_vm_frame, psp_frame, npt_frame, permission, interior };

std::string_view name(Tamper t) {
  switch (t) {
    case Tamper::flip_bit:
      return "flip_bit";
    case Tamper::other_vm_frame:
      return "other_vm_frame";
    case Tamper::psp_frame:
      return "psp_frame";
    case Tamper::npt_frame:
      return "npt_frame";
    case Tamper::permission:
      return "permission";
    case Tamper::interior:
      return "interior";
  }
  return "?";
}

// The target: a private, read-only, no-execute page at 512 MiB. The probe GPA shares its
// 32-byte entry chunk (4 entries = 16 KiB of GPA), so an NPT_MAP of it walks the chunk.
constexpr std::uint64_t kTarget = 0x20000000;
constexpr std::uint64_t kProbe = kTarget + 0x1000;
// A GPA whose walk meets nothing the attacks edit: root index 8 (4 TiB) lies in another
// 32-byte chunk of the root than index 0.
constexpr std::uint64_t kFarAway = 0x40000000000;

struct Attack {
  std::uint64_t address = 0;  // host address of the entry the hypervisor rewrites
  std::uint64_t value = 0;    // what it writes there
};

// What the hypervisor writes for each attack on VM `vm` (`other` is another guarded VM).
Attack plan(GuardWorld& w, Tamper t, psp::VmHandle vm, psp::VmHandle other) {
  const std::uint64_t at = w.entry_at(vm, kTarget);
  const std::uint64_t entry = w.read_u64(at);
  const std::uint64_t flags = entry & ~npt::kFrameMask;
  switch (t) {
    case Tamper::flip_bit:
      return {at, entry ^ (1ull << 12)};
    case Tamper::other_vm_frame:
      return {at, flags | w.frame_of(other, 0x100000)};
    case Tamper::psp_frame:
      return {at, flags | *w.frame_used_as(other, hw::FrameUse::merkle)};
    case Tamper::npt_frame:
      return {at, flags | w.info(vm).npt_root};
    case Tamper::permission:
      return {at, entry | npt::kWritable | npt::kExecutable};
    case Tamper::interior: {
      // The level-1 entry over the target now points at another frame as its leaf table.
      const std::uint64_t upper = w.entry_at(vm, kTarget, 1);
      return {upper, w.read_u64(upper) ^ (1ull << 12)};
    }
  }
  return {};
}

struct Case {
  GuardMode mode;
  NptIntegrity integrity;
  Tamper tamper;
};

class TamperMatrix : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    policy = guard_policy(GetParam().mode, GetParam().integrity);
    other = w.launch("hello", guard_policy(GuardMode::detect, NptIntegrity::merkle));
  }
  psp::VmHandle victim() {
    const psp::VmHandle vm = w.launch("hello", policy);
    psp::MapPermissions read_only_nx;
    read_only_nx.writable = false;
    read_only_nx.executable = false;
    EXPECT_TRUE(w.map(vm, kTarget, 1, read_only_nx).ok());
    return vm;
  }
  GuardWorld w;
  measure::Policy policy;
  psp::VmHandle other = 0;
};

TEST_P(TamperMatrix, DetectRefusesAndStopsIsolateBlocks) {
  const Case c = GetParam();
  const psp::VmHandle refused = victim();  // found by the next NPT_MAP
  const psp::VmHandle swept = victim();    // found by the periodic check alone
  for (psp::VmHandle vm : {refused, swept}) {
    const Attack a = plan(w, c.tamper, vm, other);
    if (c.mode == GuardMode::isolate) {
      EXPECT_THROW(w.write_u64(a.address, a.value), hw::HwError);
      EXPECT_NE(w.read_u64(a.address), a.value);
    } else {
      w.write_u64(a.address, a.value);
      ASSERT_EQ(w.read_u64(a.address), a.value);
    }
  }
  if (c.mode == GuardMode::isolate) {
    EXPECT_TRUE(w.map(refused, kProbe).ok());
    EXPECT_TRUE(w.tick().empty());
    EXPECT_EQ(w.info(refused).state, psp::VmState::running);
    return;
  }
  // detect: refused before anything changes ...
  const std::uint64_t pages_before = w.info(refused).table_pages;
  EXPECT_EQ(w.map(refused, kProbe).result.status, psp::Status::npt_tampered);
  EXPECT_EQ(w.info(refused).table_pages, pages_before);
  // ... a walk elsewhere is refused too with `full` (it hashes the whole table) and
  // accepted with `merkle` (it checks only what it walks; the periodic check covers the rest).
  EXPECT_EQ(w.map(swept, kFarAway).result.status,
            c.integrity == NptIntegrity::full ? psp::Status::npt_tampered : psp::Status::success);
  if (c.integrity == NptIntegrity::merkle) {
    EXPECT_EQ(w.info(swept).state, psp::VmState::running);
  }
  // The periodic check (whole table each tick) stops both at the first tick; the other VM,
  // untouched, keeps running.
  const auto stopped = w.tick();
  EXPECT_EQ(stopped, (std::vector<psp::VmHandle>{refused, swept}));
  for (psp::VmHandle vm : {refused, swept}) {
    const psp::VmInfo info = w.info(vm);
    EXPECT_EQ(info.state, psp::VmState::stopped);
    EXPECT_EQ(info.stop_reason, psp::StopReason::npt_tampered);
    const psp::Response later = w.map(vm, 0x30000000);
    EXPECT_EQ(later.result.status, psp::Status::vm_stopped);
    EXPECT_EQ(later.result.detail, static_cast<std::uint64_t>(psp::StopReason::npt_tampered));
    EXPECT_EQ(w.psp().execute(psp::NptUnmap{vm, kTarget, 1}).result.status,
              psp::Status::vm_stopped);
    EXPECT_FALSE(w.psp().vcpu_binding(vm).has_value());
  }
  EXPECT_EQ(w.info(other).state, psp::VmState::running);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (GuardMode m : {GuardMode::detect, GuardMode::isolate}) {
    for (NptIntegrity i : {NptIntegrity::full, NptIntegrity::merkle}) {
      for (Tamper t : {Tamper::flip_bit, Tamper::other_vm_frame, Tamper::psp_frame,
                       Tamper::npt_frame, Tamper::permission, Tamper::interior}) {
        cases.push_back({m, i, t});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Guarded, TamperMatrix, ::testing::ValuesIn(all_cases()),
                         [](const auto& param_info) {
                           const Case& c = param_info.param;
                           return fmt::format("{}_{}_{}", measure::to_string(c.mode),
                                              measure::to_string(c.integrity), name(c.tamper));
                         });

// --- off: the SEV-class baseline. The VMM owns its tables; guests show the effect. -----

constexpr std::uint64_t kDenseBase = 0x1000000;  // memwalk's dense region (16 MiB)
const std::string kHello = "hello from a confidential VM\n";

std::string memwalk_ok() {
  return fmt::format("memwalk checksum {:016x}\n", test::memwalk_checksum());
}

// The VMM maps `gpa` of an off-mode VM to `hpa` itself, as it does for every fault.
void vmm_maps(GuardWorld& w, psp::VmHandle vm, std::uint64_t gpa, std::uint64_t hpa,
              std::uint64_t flags) {
  npt::Editor editor(w.mc(), hw::kHostAccess);
  const npt::Editor::TableAllocator allocate = [&w] {
    const std::uint64_t frame = w.platform->frames().allocate(1)->hpa;
    w.mc().write(frame, Bytes(hw::kFrameSize, 0), hw::kHostAccess);
    return frame;
  };
  editor.write_entry(*editor.leaf_entry_address(w.info(vm).npt_root, gpa, &allocate),
                     npt::make_entry(hpa, flags));
}

constexpr std::uint64_t kRwx = npt::kPresent | npt::kWritable | npt::kExecutable;

TEST(OffModeAttacks, FlippedBitRunsAnotherPageAsTheGuestsCode) {
  GuardWorld w;
  const auto vm = w.launch("hello", guard_policy(GuardMode::off, NptIntegrity::merkle));
  const std::uint64_t at = w.entry_at(vm, 0x100000);
  w.write_u64(at, w.read_u64(at) ^ (1ull << 12));
  const RunResult r = w.vmm->run(vm);
  EXPECT_NE(r.console, kHello);
  EXPECT_NE(r.fate, VmFate::exited);
}

TEST(OffModeAttacks, RemappedToAnotherVmsFrameTheGuestOverwritesThatVm) {
  GuardWorld w;
  const auto victim = w.launch("hello", guard_policy(GuardMode::detect, NptIntegrity::merkle));
  const auto attacker = w.launch("memwalk", guard_policy(GuardMode::off, NptIntegrity::merkle));
  // The VMM backs the attacker's first dense page with the victim's first code page.
  vmm_maps(w, attacker, kDenseBase, w.frame_of(victim, 0x100000), kRwx);
  const RunResult a = w.vmm->run(attacker);
  // The attacker reads back what it wrote (through its own key) ...
  EXPECT_EQ(a.console, memwalk_ok());
  // ... while the victim's code was overwritten with bytes under another key: it no
  // longer runs. What it runs instead depends on this run's fresh keys and may loop
  // forever without an exit, so it gets 50 simulated ms (hello needs microseconds), not
  // the default 10 s, which under ASan can take longer than CTest's timeout.
  const RunResult v = w.vmm->run(victim, {.max_sim_ns = 50'000'000});
  EXPECT_NE(v.console, kHello);
  EXPECT_NE(v.fate, VmFate::exited);
}

TEST(OffModeAttacks, PointedAtAPspFrameTheMemoryControllerStillRefusesTheWrite) {
  GuardWorld w;
  const auto guarded = w.launch("hello", guard_policy(GuardMode::detect, NptIntegrity::merkle));
  const auto attacker = w.launch("memwalk", guard_policy(GuardMode::off, NptIntegrity::merkle));
  const std::uint64_t merkle = *w.frame_used_as(guarded, hw::FrameUse::merkle);
  vmm_maps(w, attacker, kDenseBase, merkle, kRwx);
  // The NPT edit itself goes unnoticed, but the frame guard is hardware: the guest's
  // store faults and the PSP's tree stays intact.
  const RunResult a = w.vmm->run(attacker);
  EXPECT_EQ(a.fate, VmFate::guest_fault) << a.detail;
  EXPECT_TRUE(w.tick().empty());
  EXPECT_EQ(w.vmm->run(guarded).console, kHello);
}

TEST(OffModeAttacks, PointedAtItsOwnTableTheGuestCorruptsItsTranslations) {
  GuardWorld w;
  const auto vm = w.launch("memwalk", guard_policy(GuardMode::off, NptIntegrity::merkle));
  // Map one dense page so that the dense region's leaf table exists, then back the first
  // dense page with that very table.
  vmm_maps(w, vm, kDenseBase + 0x1000, w.platform->frames().allocate(1)->hpa, kRwx);
  const std::uint64_t leaf_table = *w.table_at(vm, kDenseBase, 0);
  vmm_maps(w, vm, kDenseBase, leaf_table, kRwx);
  const RunResult r = w.vmm->run(vm);
  EXPECT_NE(r.console, memwalk_ok());
  // The guest's stores landed in the table: entry 0 no longer maps the table itself.
  EXPECT_NE(w.read_u64(leaf_table) & npt::kFrameMask, leaf_table);
}

TEST(OffModeAttacks, ReadOnlyMadeWritableLetsTheGuestWriteIt) {
  GuardWorld w;
  const auto control = w.launch("memwalk", guard_policy(GuardMode::off, NptIntegrity::merkle));
  const auto attacked = w.launch("memwalk", guard_policy(GuardMode::off, NptIntegrity::merkle));
  for (auto vm : {control, attacked}) {
    vmm_maps(w, vm, kDenseBase, w.platform->frames().allocate(1)->hpa, npt::kPresent);
  }
  // With the page read-only the guest's first store faults ...
  const RunResult c = w.vmm->run(control);
  EXPECT_EQ(c.fate, VmFate::guest_fault);
  EXPECT_NE(c.console, memwalk_ok());
  // ... with the writable bit set behind the tenant's back it goes through.
  const std::uint64_t at = w.entry_at(attacked, kDenseBase);
  w.write_u64(at, w.read_u64(at) | npt::kWritable);
  EXPECT_EQ(w.vmm->run(attacked).console, memwalk_ok());
}

TEST(OffModeAttacks, NoExecuteMadeExecutableRunsTheCode) {
  GuardWorld w;
  const auto control = w.launch("hello", guard_policy(GuardMode::off, NptIntegrity::merkle));
  const auto attacked = w.launch("hello", guard_policy(GuardMode::off, NptIntegrity::merkle));
  for (auto vm : {control, attacked}) {
    const std::uint64_t at = w.entry_at(vm, 0x100000);
    w.write_u64(at, w.read_u64(at) & ~npt::kExecutable);
  }
  EXPECT_EQ(w.vmm->run(control).fate, VmFate::guest_fault);
  const std::uint64_t at = w.entry_at(attacked, 0x100000);
  w.write_u64(at, w.read_u64(at) | npt::kExecutable);
  EXPECT_EQ(w.vmm->run(attacked).console, kHello);
}

TEST(OffModeAttacks, ForgedInteriorTableRedirectsTheGuestsCode) {
  GuardWorld w;
  const auto vm = w.launch("hello", guard_policy(GuardMode::off, NptIntegrity::merkle));
  // A copy of the leaf table in which the first code page maps the next frame; the
  // level-1 entry is redirected to the copy. The real leaf table is left untouched.
  const std::uint64_t leaf = *w.table_at(vm, 0x100000, 0);
  const std::uint64_t forged = w.platform->frames().allocate(1)->hpa;
  Bytes copy(hw::kFrameSize);
  w.mc().read(leaf, copy, hw::kHostAccess);
  w.mc().write(forged, copy, hw::kHostAccess);
  const std::uint64_t code = forged + 8 * npt::index_at(0x100000, 0);
  w.write_u64(code, w.read_u64(code) ^ (1ull << 12));
  const std::uint64_t upper = w.entry_at(vm, 0x100000, 1);
  w.write_u64(upper, (w.read_u64(upper) & ~npt::kFrameMask) | forged);
  const RunResult r = w.vmm->run(vm);
  EXPECT_NE(r.console, kHello);
}

// LAUNCH_UPDATE validates before it acts: a walk through tampered tables refuses the page
// and leaves the frame the host donated for it as it was (untagged, the host's bytes).
TEST(LaunchUpdate, ATamperedWalkLeavesTheDonatedFrameUntouched) {
  GuardWorld w;
  const measure::Policy policy = guard_policy(GuardMode::detect, NptIntegrity::merkle);
  const psp::Response start =
      w.psp().execute(psp::LaunchStart{policy.encode(), w.platform->frames().allocate(1)->hpa});
  ASSERT_TRUE(start.ok());
  const psp::VmHandle vm = std::get<psp::LaunchStartInfo>(start.payload).vm;
  // Donates table frames as often as the PSP asks for them, as the VMM does.
  const auto add_zero_page = [&](std::uint64_t gpa, std::uint64_t hpa) {
    for (;;) {
      const psp::Response r =
          w.psp().execute(psp::LaunchUpdate{vm, gpa, measure::PageType::zero, hpa, {}});
      if (r.result.status != psp::Status::resource_exhausted) return r;
      w.donate(vm, static_cast<std::size_t>(r.result.detail));
    }
  };
  ASSERT_TRUE(add_zero_page(0x100000, w.platform->frames().allocate(1)->hpa).ok());
  // The host edits the leaf entry of the page just added; the next page shares its table.
  const std::uint64_t entry = w.entry_at(vm, 0x100000);
  w.write_u64(entry, w.read_u64(entry) ^ (1ULL << 12));
  const std::uint64_t frame = w.platform->frames().allocate(1)->hpa;
  const Bytes host_bytes(hw::kFrameSize, 0x5a);
  w.mc().write(frame, host_bytes, hw::kHostAccess);

  EXPECT_EQ(add_zero_page(0x101000, frame).result.status, psp::Status::npt_tampered);
  EXPECT_EQ(w.mc().tag(frame), hw::FrameTag{});
  Bytes now(hw::kFrameSize);
  w.mc().read(frame, now, hw::kHostAccess);
  EXPECT_EQ(now, host_bytes);
}

}  // namespace
}  // namespace cvmsim::vmm
