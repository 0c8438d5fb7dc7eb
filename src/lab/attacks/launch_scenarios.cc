// Scenarios against the launch measurement and attestation: reordered or modified
// firmware pages, a replayed report and a report from another chip.
#include <fmt/format.h>

#include <cstring>

#include "attest/verifier.h"
#include "lab/attacks/lab_bench.h"
#include "lab/attacks/scenarios.h"
#include "measure/launch_plan.h"
#include "pki/identity.h"

namespace cvmsim::lab::attacks {
namespace {

const char* kLaunchIndependent = "the launch digest does not depend on the guard mode";

// The VMM performs the launch itself through the mailbox, with `tamper` applied to the
// page list, and reports what LAUNCH_VERIFY said.
Outcome tampered_launch(const RunOptions& o,
                        const std::function<std::string(measure::LaunchPlan&)>& tamper) {
  Bench bench(o);
  const vmm::LaunchRequest request = bench.victim_request("");
  measure::LaunchPlan plan =
      measure::plan_firmware_launch(request.firmware, measure::GuestLayout{}, "firmware");
  const std::string what = tamper(plan);
  psp::Psp& psp = bench.platform().psp();
  auto frame = [&] { return bench.platform().frames().allocate(1)->hpa; };
  const psp::Response start = psp.execute(psp::LaunchStart{request.policy.encode(), frame()});
  if (!start.ok()) throw AttackError(AttackErrc::inconclusive, "LAUNCH_START refused");
  const psp::VmHandle vm = std::get<psp::LaunchStartInfo>(start.payload).vm;
  psp::NptDonate donate{vm, {}};
  for (int i = 0; i < 32; ++i) donate.frames.push_back(frame());
  (void)psp.execute(donate);
  for (const auto& page : plan.pages) {
    const std::uint64_t hpa = page.type == measure::PageType::vcpu_state ? 0 : frame();
    if (!psp.execute(psp::LaunchUpdate{vm, page.gpa, page.type, hpa, page.contents}).ok()) {
      throw AttackError(AttackErrc::inconclusive, "LAUNCH_UPDATE refused");
    }
  }
  const psp::Response verify =
      psp.execute(psp::LaunchVerify{vm, request.reference, request.provider_key});
  const psp::Response finish = psp.execute(psp::LaunchFinish{vm});
  Outcome out;
  out.effect = what;
  out.note = kLaunchIndependent;
  if (!verify.ok() && !finish.ok() && !psp.vcpu_binding(vm)) {
    out.kind = OutcomeKind::prevented;
    out.by = fmt::format("LAUNCH_VERIFY refused with {} (detail {}); the VM never runs",
                         psp::to_string(verify.result.status), verify.result.detail);
    out.layer = Layer::psp_command;
    out.status = verify.result.status;
  } else {
    out.kind = OutcomeKind::succeeded;
    out.effect += ": the PSP accepted the launch";
  }
  return out;
}

// Two firmware pages with different contents, by index.
std::pair<std::size_t, std::size_t> two_firmware_pages(const measure::LaunchPlan& plan) {
  std::vector<std::size_t> fw;
  for (std::size_t i = 0; i < plan.pages.size(); ++i) {
    if (plan.pages[i].type == measure::PageType::firmware) fw.push_back(i);
  }
  for (std::size_t i = 0; i < fw.size(); ++i) {
    for (std::size_t j = i + 1; j < fw.size(); ++j) {
      if (plan.pages[fw[i]].contents != plan.pages[fw[j]].contents) return {fw[i], fw[j]};
    }
  }
  throw AttackError(AttackErrc::inconclusive, "the firmware has fewer than two distinct pages");
}

Outcome firmware_reorder(const RunOptions& o) {
  return tampered_launch(o, [](measure::LaunchPlan& plan) {
    const auto [a, b] = two_firmware_pages(plan);
    std::swap(plan.pages[a].contents, plan.pages[b].contents);
    return fmt::format(
        "the VMM loaded the firmware pages at GPA {:#x} and {:#x} swapped "
        "(same bytes, same count)",
        plan.pages[a].gpa, plan.pages[b].gpa);
  });
}

Outcome firmware_modify(const RunOptions& o) {
  return tampered_launch(o, [](measure::LaunchPlan& plan) {
    const auto [a, b] = two_firmware_pages(plan);
    (void)b;
    plan.pages[a].contents[0x40] ^= 0x01;
    return fmt::format("the VMM flipped one bit of the firmware page at GPA {:#x}",
                       plan.pages[a].gpa);
  });
}

// Boots the victim on `bench`'s platform and asks it for a report over `nonce`.
Bytes report_from(Bench& bench, char nonce) {
  const psp::VmHandle vm = bench.launch_victim("a" + std::string(64, nonce));
  const vmm::RunResult run = bench.vmm().run(vm);
  if (run.host_output.size() < 4) {
    throw AttackError(AttackErrc::inconclusive, "the victim returned no report");
  }
  std::uint32_t length = 0;
  std::memcpy(&length, run.host_output.data(), 4);
  if (length > run.host_output.size() - 4) {
    throw AttackError(AttackErrc::inconclusive, "the victim's report is truncated");
  }
  return {run.host_output.begin() + 4, run.host_output.begin() + 4 + length};
}

attest::Verification verify(Bench& bench, ByteView report, std::size_t chain_chip, char nonce) {
  const pki::ChipIdentity chip = pki::load_chip(bench.world().chip_dir(chain_chip));
  const std::string chain = pki::to_pem_bundle(chip.chain());
  const pki::VendorIdentity vendor = pki::load_vendor(bench.world().vendor_dir());
  attest::Expectations expect;
  expect.nonce = Bytes(64, static_cast<std::uint8_t>(nonce));
  // These scenarios attack freshness and the chip's identity; the tenant's measurement
  // and provider expectations are not what they probe.
  expect.allow_unchecked = true;
  return attest::verify_report(
      report, "report", ByteView(reinterpret_cast<const std::uint8_t*>(chain.data()), chain.size()),
      "chain", vendor.root, expect);
}

Outcome verifier_outcome(const attest::Verification& v, const std::string& effect) {
  Outcome out;
  out.effect = effect;
  out.note = "the tenant's verifier decides; guard-independent";
  std::string failed;
  for (const auto& c : v.checks) {
    if (c.status == attest::CheckStatus::fail) {
      failed += fmt::format("{}{}", failed.empty() ? "" : ", ", attest::to_string(c.id));
    }
  }
  if (v.passed()) {
    out.kind = OutcomeKind::succeeded;
    out.effect += ": the verifier accepted it";
  } else {
    out.kind = OutcomeKind::prevented;
    out.by = fmt::format("verifier: FAIL on {} ({})", failed, attest::to_string(v.failure()));
    out.layer = Layer::verifier;
  }
  return out;
}

Outcome report_replay(const RunOptions& o) {
  Bench bench(o);
  const Bytes old_report = report_from(bench, 'A');  // the tenant's first challenge
  // The tenant challenges again with a fresh nonce; the VMM answers with the old report.
  const attest::Verification control = verify(bench, old_report, 0, 'A');
  if (!control.passed()) throw AttackError(AttackErrc::inconclusive, "the genuine report fails");
  return verifier_outcome(verify(bench, old_report, 0, 'B'),
                          "the VMM answered a fresh nonce with a genuine report over an old one");
}

Outcome report_other_chip(const RunOptions& o) {
  // Two chips of the same vendor; the VM actually runs on chip 1, the tenant expects chip 0.
  Bench bench(o, 2, 1);
  const Bytes report = report_from(bench, 'C');
  return verifier_outcome(verify(bench, report, 0, 'C'),
                          "the VMM presented a genuine report signed by another chip of the "
                          "same vendor");
}

}  // namespace

const Scenario kLaunchScenarios[] = {
    {"firmware-reorder",
     "The VMM loads two firmware pages in swapped order (same bytes, different GPAs)",
     "Wilke et al., undeSErVed trust: Exploiting Permutation-Agnostic Remote Attestation, "
     "WOOT 2021",
     false, "", firmware_reorder},
    {"firmware-modify", "The VMM flips one bit of a firmware page during LAUNCH_UPDATE", "", false,
     "", firmware_modify},
    {"report-replay", "The VMM answers the tenant's fresh nonce with an old genuine report", "",
     false, "", report_replay},
    {"report-other-chip",
     "The VMM runs the VM on another chip and presents that chip's genuine report", "", false, "",
     report_other_chip},
};
const std::size_t kLaunchScenarioCount = std::size(kLaunchScenarios);

}  // namespace cvmsim::lab::attacks
