// The attack lab: every scenario runs in every guard mode and must end with its expected
// outcome, and a scenario with a defence (a memory-protection policy bit) ends as expected
// with the bit on too; docs/attacks.md must equal a fresh `cvmsim attack all -o markdown`.
// The catalogue runs once per test binary (cached) so that both checks share its results.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "attest/report.h"
#include "common/file_io.h"
#include "common/scratch_dir.h"
#include "hw/memory_controller.h"
#include "lab/attacks/dram_alias.h"
#include "lab/attacks/lab_bench.h"
#include "lab/attacks/render.h"

namespace cvmsim::lab::attacks {
namespace {

using measure::GuardMode;
using K = OutcomeKind;

// ctest runs each test in its own process: a scenario runs (in all modes) only when a test
// of that process asks for it, and at most once.
// `defended`: with the scenario's defence (Scenario::defence) on.
const std::vector<std::pair<GuardMode, Outcome>>& outcomes_of(std::string_view name,
                                                              bool defended = false) {
  static std::map<std::pair<std::string_view, bool>, std::vector<std::pair<GuardMode, Outcome>>>
      cache;
  const Scenario& s = find_scenario(name);
  auto it = cache.find({s.name, defended});
  if (it == cache.end()) {
    std::vector<std::pair<GuardMode, Outcome>> runs;
    for (const GuardMode mode : kAllModes) {
      const RunOptions options{mode, crypto::SuiteId::sm, {}};
      runs.emplace_back(mode,
                        run_scenario(s, defended ? with_defence(options, s.defence) : options));
    }
    it = cache.emplace(std::pair{s.name, defended}, std::move(runs)).first;
  }
  return it->second;
}

const Outcome& outcome(std::string_view name, GuardMode mode, bool defended = false) {
  for (const auto& [m, o] : outcomes_of(name, defended)) {
    if (m == mode) return o;
  }
  throw std::runtime_error(fmt::format("no result for {}", name));
}

struct Expected {
  K off, detect, isolate;
};

// What each protection must achieve (off / detect / isolate).
const std::map<std::string_view, Expected> kExpected = {
    {"severed", {K::succeeded, K::succeeded, K::prevented}},
    {"npt-silent-edit", {K::succeeded, K::detected, K::prevented}},
    {"npt-permission-flip", {K::succeeded, K::detected, K::prevented}},
    {"cross-vm-map", {K::prevented, K::prevented, K::prevented}},
    {"map-psp-frame", {K::prevented, K::prevented, K::prevented}},
    {"map-npt-frame", {K::succeeded, K::prevented, K::prevented}},
    {"memory-replay", {K::succeeded, K::succeeded, K::succeeded}},
    {"ciphertext-side-channel", {K::succeeded, K::succeeded, K::succeeded}},
    {"dram-alias", {K::prevented, K::prevented, K::prevented}},
    {"asid-reuse", {K::prevented, K::prevented, K::prevented}},
    {"vmm-reads", {K::prevented, K::prevented, K::prevented}},
    {"secure-call-replay", {K::prevented, K::prevented, K::prevented}},
    {"secure-call-reorder", {K::prevented, K::prevented, K::prevented}},
    {"stale-translation", {K::prevented, K::prevented, K::prevented}},
    {"firmware-reorder", {K::prevented, K::prevented, K::prevented}},
    {"firmware-modify", {K::prevented, K::prevented, K::prevented}},
    {"report-replay", {K::prevented, K::prevented, K::prevented}},
    {"report-other-chip", {K::prevented, K::prevented, K::prevented}},
    {"image-other-chip", {K::prevented, K::prevented, K::prevented}},
    {"image-forged-signature", {K::prevented, K::prevented, K::prevented}},
    {"image-untrusted-provider", {K::prevented, K::prevented, K::prevented}},
    {"luks2-cipher-null", {K::prevented, K::prevented, K::prevented}},
    {"luks2-sector-size", {K::prevented, K::prevented, K::prevented}},
    {"luks2-data-offset", {K::prevented, K::prevented, K::prevented}},
    {"sector-replay", {K::succeeded, K::succeeded, K::succeeded}},
    {"sector-replay-authenticated", {K::prevented, K::prevented, K::prevented}},
    {"sector-replay-data-only", {K::prevented, K::prevented, K::prevented}},
    {"sector-flip-authenticated", {K::prevented, K::prevented, K::prevented}},
    {"header-transplant-authenticated", {K::prevented, K::prevented, K::prevented}},
    {"dma-misdirection", {K::succeeded, K::detected, K::prevented}},
    {"interrupt-forgery", {K::prevented, K::prevented, K::prevented}},
    {"interrupt-drop-duplicate", {K::prevented, K::prevented, K::prevented}},
};

// With the scenario's defence on (the victims' policy has the bit).
const std::map<std::string_view, Expected> kExpectedWithDefence = {
    {"memory-replay", {K::prevented, K::prevented, K::prevented}},
    {"ciphertext-side-channel", {K::prevented, K::prevented, K::prevented}},
};

TEST(AttackCatalogue, EveryScenarioHasAnExpectationAndAUniqueName) {
  std::set<std::string_view> names;
  for (const Scenario& s : catalogue()) {
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
    EXPECT_TRUE(kExpected.contains(s.name)) << s.name << " has no expected outcome";
    EXPECT_FALSE(s.description.empty()) << s.name;
    ASSERT_NE(s.run, nullptr) << s.name;
    EXPECT_EQ(kExpectedWithDefence.contains(s.name), !s.defence.empty()) << s.name;
  }
  EXPECT_EQ(names.size(), kExpected.size());
  EXPECT_THROW((void)find_scenario("no-such-attack"), AttackError);
}

class EveryScenario : public ::testing::TestWithParam<std::string_view> {};

TEST_P(EveryScenario, EndsAsExpectedInEveryMode) {
  const std::string_view name = GetParam();
  const Scenario& s = find_scenario(name);
  const Expected e = kExpected.at(name);
  const std::pair<GuardMode, K> expected[] = {
      {GuardMode::off, e.off}, {GuardMode::detect, e.detect}, {GuardMode::isolate, e.isolate}};
  for (const auto& [mode, kind] : expected) {
    const Outcome& o = outcome(name, mode);
    SCOPED_TRACE(fmt::format("{} / {}: {}", name, measure::to_string(mode), summarize(o)));
    EXPECT_EQ(o.kind, kind);
    EXPECT_FALSE(o.effect.empty());
    // Who stopped it is data as well as prose; a success names no layer.
    if (o.kind != K::succeeded) {
      EXPECT_FALSE(o.by.empty());
      EXPECT_NE(o.layer, Layer::none);
    } else {
      EXPECT_EQ(o.layer, Layer::none);
      EXPECT_FALSE(o.status.has_value());
    }
    if (o.layer == Layer::psp_periodic_check) {
      EXPECT_EQ(o.status, psp::Status::vm_stopped);
    }
    if (o.kind == K::detected) {
      EXPECT_TRUE(o.detected_after_commands || o.detected_after_us);
    }
    // A success against a protection must say why that protection cannot cover it.
    if (o.kind == K::succeeded && mode != GuardMode::off) {
      EXPECT_FALSE(s.guarded_success_reason.empty());
      EXPECT_FALSE(o.note.empty());
    }
  }
}

class EveryDefence : public ::testing::TestWithParam<std::string_view> {};

// The defence is the memory controller's, and the same attack performed against it fails
// in every guard mode.
TEST_P(EveryDefence, PreventsItsAttackInEveryMode) {
  const std::string_view name = GetParam();
  const Expected e = kExpectedWithDefence.at(name);
  const std::pair<GuardMode, K> expected[] = {
      {GuardMode::off, e.off}, {GuardMode::detect, e.detect}, {GuardMode::isolate, e.isolate}};
  for (const auto& [mode, kind] : expected) {
    const Outcome& o = outcome(name, mode, true);
    SCOPED_TRACE(fmt::format("{} / {} with {}: {}", name, measure::to_string(mode),
                             find_scenario(name).defence, summarize(o)));
    EXPECT_EQ(o.kind, kind);
    EXPECT_EQ(o.layer, Layer::memory_controller);
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, EveryDefence,
                         ::testing::Values("memory-replay", "ciphertext-side-channel"),
                         [](const auto& param_info) {
                           std::string n(param_info.param);
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

TEST(AttackEffects, CiphertextEqualityAloneRecoversTheKeyBits) {
  const Outcome& o = outcome("ciphertext-side-channel", GuardMode::isolate);
  ASSERT_EQ(o.kind, K::succeeded) << summarize(o);
  EXPECT_NE(o.effect.find(fmt::format("\"{}\"", kSecret.substr(kKeyOffset, 4))), std::string::npos)
      << o.effect;
  const Outcome& hidden = outcome("ciphertext-side-channel", GuardMode::isolate, true);
  EXPECT_EQ(hidden.effect.find(std::string(kSecret.substr(kKeyOffset, 4))), std::string::npos)
      << hidden.effect;
}

// The guest stops on the missing completion record before it uses the buffer, so the
// count on disk survives the forged interrupt.
TEST(AttackEffects, AForgedCompletionInterruptIsCaughtByTheMissingRecord) {
  for (const GuardMode mode : kAllModes) {
    const Outcome& o = outcome("interrupt-forgery", mode);
    SCOPED_TRACE(summarize(o));
    EXPECT_EQ(o.layer, Layer::completion_record);
    EXPECT_NE(o.effect.find("the next boot reports boot number 2"), std::string::npos);
    const Outcome& repeated = outcome("interrupt-drop-duplicate", mode);
    EXPECT_EQ(repeated.layer, Layer::completion_record) << summarize(repeated);
  }
}

TEST(AttackEffects, MemoryIntegrityKeepsTheGuestsNewVersion) {
  const Outcome& o = outcome("memory-replay", GuardMode::detect, true);
  EXPECT_NE(o.effect.find("VERSION-2"), std::string::npos) << o.effect;
  EXPECT_EQ(o.layer, Layer::memory_controller) << o.by;
}

std::vector<std::string_view> scenario_names() {
  std::vector<std::string_view> names;
  for (const Scenario& s : catalogue()) names.push_back(s.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, EveryScenario, ::testing::ValuesIn(scenario_names()),
                         [](const auto& param_info) {
                           std::string n(param_info.param);
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

// Specific effects the table claims, checked on the outcomes themselves.
TEST(AttackEffects, SeveredLeaksTheSecretWithoutIsolation) {
  EXPECT_NE(outcome("severed", GuardMode::off).effect.find(std::string(kSecret)),
            std::string::npos);
  const Outcome& detect = outcome("severed", GuardMode::detect);
  EXPECT_NE(detect.effect.find(std::string(kSecret)), std::string::npos);
  ASSERT_TRUE(detect.detected_after_us.has_value());  // found later, by the periodic check
  EXPECT_EQ(outcome("severed", GuardMode::isolate).effect.find(std::string(kSecret)),
            std::string::npos);
}

TEST(AttackEffects, SilentEditIsFoundWithinOneCheckInterval) {
  const Outcome& o = outcome("npt-silent-edit", GuardMode::detect);
  ASSERT_TRUE(o.detected_after_us.has_value());
  EXPECT_GT(*o.detected_after_us, 0u);
  EXPECT_LE(*o.detected_after_us, vmm::kDefaultCheckIntervalUs + 20);
  EXPECT_EQ(o.layer, Layer::psp_periodic_check);
  EXPECT_EQ(o.status, psp::Status::vm_stopped);
  EXPECT_EQ(outcome("npt-silent-edit", GuardMode::detect).effect.find(std::string(kSecret)),
            std::string::npos);
}

TEST(AttackEffects, ThePermissionFlipIsRefusedAtTheNextNptMap) {
  const Outcome& o = outcome("npt-permission-flip", GuardMode::detect);
  EXPECT_EQ(o.layer, Layer::psp_command) << summarize(o);
  EXPECT_EQ(o.status, psp::Status::npt_tampered) << summarize(o);
}

// A frame taken from VM A without a flush never shows A VM B's secret: with the guard off
// A reads it through its own key (garbage); guarded, the PSP refuses to hand the frame to
// B until A's vCPU has flushed, even after a TLB_TRACK.
TEST(AttackEffects, AStaleTranslationNeverReadsTheNextOwnersSecret) {
  for (const GuardMode mode : kAllModes) {
    const Outcome& o = outcome("stale-translation", mode);
    SCOPED_TRACE(summarize(o));
    EXPECT_EQ(o.effect.find(std::string(kSecret)), std::string::npos);
    if (mode == GuardMode::off) {
      EXPECT_EQ(o.layer, Layer::memory_encryption);
      EXPECT_NE(o.effect.find("stored its secret there"), std::string::npos);
    } else {
      EXPECT_EQ(o.layer, Layer::psp_command);
      EXPECT_EQ(o.status, psp::Status::tlb_not_tracked);
      EXPECT_NE(o.effect.find("TLB_TRACK success without a flush"), std::string::npos);
      EXPECT_NE(o.effect.find("PSP refused NPT_MAP"), std::string::npos);
    }
  }
}

// BadRAM: on an aliased platform the replay through the alias works in every guard mode
// (no guard covers memory contents, and the alias's own frame tag is free host memory);
// the PSP's boot-time alias check stops the platform before any VM runs.
TEST(AttackEffects, DramAliasReplaySucceedsWithoutTheBootCheckAndIsPreventedWithIt) {
  for (const GuardMode mode : kAllModes) {
    const ScratchDir dir("cvmsim-dram-alias-test");
    const Outcome without = dram_alias_replay({mode, crypto::SuiteId::sm, dir.path()}, false);
    SCOPED_TRACE(summarize(without));
    EXPECT_EQ(without.kind, K::succeeded);
    EXPECT_NE(without.effect.find("the guest read back VERSION-1"), std::string::npos);
    const Outcome& with = outcome("dram-alias", mode);
    SCOPED_TRACE(summarize(with));
    EXPECT_EQ(with.kind, K::prevented);
    EXPECT_EQ(with.layer, Layer::psp_command);
    EXPECT_EQ(with.status, psp::Status::dram_aliased);
    EXPECT_EQ(without.layer, Layer::none);
    EXPECT_NE(with.effect.find("dram_aliased (status 21)"), std::string::npos);
    EXPECT_NE(with.note.find("without the check (firmware before the fix) the attack succeeded"),
              std::string::npos);
  }
}

// The report a guest gets says whether its platform's PSP ran the alias check.
TEST(AttackEffects, ReportsSayWhetherThePspRanTheDramAliasCheck) {
  for (const bool check : {true, false}) {
    const ScratchDir dir("cvmsim-dram-alias-report");
    vmm::PlatformOptions platform;
    platform.psp.dram_alias_check = check;
    Bench bench({GuardMode::detect, crypto::SuiteId::sm, dir.path()}, 1, 0, platform);
    const psp::VmHandle vm = bench.launch_victim("a" + std::string(64, 'N'));
    const vmm::RunResult run = bench.vmm().run(vm);
    ASSERT_GE(run.host_output.size(), 4u) << run.detail;
    const ByteView out(run.host_output);
    const std::size_t length = std::size_t{out[0]} | std::size_t{out[1]} << 8 |
                               std::size_t{out[2]} << 16 | std::size_t{out[3]} << 24;
    ASSERT_GE(out.size(), 4 + length);
    const attest::Report report = attest::Report::decode(out.subspan(4, length), "guest report");
    EXPECT_EQ(report.dram_alias_check,
              check ? attest::DramAliasCheck::passed : attest::DramAliasCheck::not_run);
  }
}

TEST(AttackDocs, DocsAttacksMdMatchesAFreshRun) {
  const Bytes committed = read_file(std::string(CVMSIM_SOURCE_DIR) + "/docs/attacks.md");
  std::vector<ScenarioRun> runs;
  for (const Scenario& s : catalogue()) {
    runs.push_back({&s, outcomes_of(s.name),
                    s.defence.empty() ? std::vector<std::pair<GuardMode, Outcome>>{}
                                      : outcomes_of(s.name, true)});
  }
  const std::string fresh = render_markdown(runs, crypto::SuiteId::sm);
  EXPECT_EQ(std::string(committed.begin(), committed.end()), fresh)
      << "docs/attacks.md is stale: regenerate it with `cvmsim attack all -o markdown > "
         "docs/attacks.md`";
}

}  // namespace
}  // namespace cvmsim::lab::attacks
