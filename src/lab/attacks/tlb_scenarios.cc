// Scenarios against cached translations: the VMM takes a frame from one VM without
// flushing its vCPU and hands it to another, hoping the first VM still reaches it through
// a stale translation.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "hw/npt.h"
#include "lab/attacks/lab_bench.h"
#include "lab/attacks/scenarios.h"

namespace cvmsim::lab::attacks {
namespace {

namespace npt = hw::npt;
using measure::GuardMode;

// The attacker: when VM A asks for its second command (it has echoed its buffer once, so
// its vCPU holds a translation of the echo page), `take` unmaps the page and runs VM B;
// when B asks for its secret page, the VMM answers with A's frame.
class MapTakenFrame : public vmm::Misbehaviour {
 public:
  using Take = std::function<void(vmm::Platform&, vmm::Vmm&)>;
  MapTakenFrame(psp::VmHandle a, psp::VmHandle b, const std::uint64_t& frame, Take take)
      : a_(a), b_(b), frame_(frame), take_(std::move(take)) {}
  void on_npt_map(vmm::Platform&, vmm::Vmm&, psp::NptMap& map) override {
    if (map.vm == b_ && frame_ != 0 && map.gpa <= kSecretGpa &&
        kSecretGpa < map.gpa + map.pages * hw::kFrameSize) {
      map = {map.vm, kSecretGpa, frame_, 1, map.permissions};
    }
  }
  void on_exit(vmm::Platform& p, vmm::Vmm& v, psp::VmHandle vm, const hw::VmExit& exit) override {
    if (vm != a_ || exit.kind != hw::VmExit::Kind::io_in || exit.port != hw::kHostDataPort) {
      return;
    }
    if (reads_++ == 1) take_(p, v);
  }

 private:
  psp::VmHandle a_;
  psp::VmHandle b_;
  const std::uint64_t& frame_;  // 0 until A's frame is taken
  Take take_;
  std::size_t reads_ = 0;
};

Outcome stale_translation(const RunOptions& o) {
  Bench bench(o);
  // A echoes its public buffer twice; B stores its secret at start-up and exits.
  const psp::VmHandle a = bench.launch_victim("ee");
  const psp::VmHandle b = bench.launch_victim("");
  std::uint64_t frame = 0;
  std::optional<psp::Status> unmapped, tracked;
  vmm::RunResult run_b;
  const auto take = [&](vmm::Platform& p, vmm::Vmm& v) {
    const auto f = bench.frame_of(a, kEchoGpa);
    const auto entry = bench.leaf_entry(a, kEchoGpa);
    if (!f || !entry) throw AttackError(AttackErrc::inconclusive, "A's echo page is not mapped");
    // Unmap the echo page from A and flush nothing.
    if (o.guard == GuardMode::off) {
      bench.write_entry(*entry, 0);
    } else {
      unmapped = p.psp().execute(psp::NptUnmap{a, kEchoGpa, 1}).result.status;
      // The VMM claims to have tracked A's TLB: TLB_TRACK, but A's vCPU is neither flushed
      // nor entered.
      tracked = p.psp().execute(psp::TlbTrack{a}).result.status;
    }
    frame = *f;
    // Hand the frame to B (guard off: the VMM's own NPT edit), and let B store its secret.
    if (o.guard == GuardMode::off) bench.host_map(b, kSecretGpa, frame);
    run_b = v.run(b);
  };
  bench.vmm().set_misbehaviour(std::make_shared<MapTakenFrame>(a, b, frame, take));
  const vmm::RunResult run_a = bench.vmm().run(a);
  bench.vmm().set_misbehaviour(nullptr);
  if (frame == 0 || run_a.host_output.size() < 2 * kEchoBytes) {
    throw AttackError(AttackErrc::inconclusive,
                      fmt::format("VM A did not echo twice: {}", run_a.detail));
  }
  const ByteView second = ByteView(run_a.host_output).subspan(kEchoBytes, kEchoBytes);
  const bool b_stored = run_b.fate == vmm::VmFate::exited;
  Outcome out;
  out.kind = contains(second, kSecret) ? OutcomeKind::succeeded : OutcomeKind::prevented;
  if (out.kind == OutcomeKind::succeeded) {
    out.effect = fmt::format("VM A read VM B's secret through its stale translation: \"{}\"",
                             printable(second));
    return out;
  }
  const bool zeros =
      std::all_of(second.begin(), second.end(), [](std::uint8_t byte) { return byte == 0; });
  // Garbage is named, not shown: it depends on the VMs' fresh keys, and the report must
  // not.
  std::string a_saw = fmt::format(
      "{} bytes of garbage (B's ciphertext through A's key, not B's plaintext)", second.size());
  if (contains(second, kPublic.substr(0, 20))) {
    a_saw = "its own old echo buffer (the frame was still A's)";
  } else if (zeros) {
    a_saw =
        "zeros (TLB_TRACK had moved A's epoch: its vCPU flushed at its next entry, faulted, "
        "and was given the page again, scrubbed)";
  }
  if (o.guard == GuardMode::off) {
    out.by = "memory encryption: a stale translation reads the frame through A's key";
    out.layer = Layer::memory_encryption;
    out.effect = fmt::format(
        "the VMM cleared A's entry without a flush and mapped the frame into B, which {}; A's "
        "second echo returned {}",
        b_stored ? "stored its secret there" : fmt::format("did not run ({})", run_b.detail),
        a_saw);
    out.note =
        "guard off: nothing tracks TLBs; B's stores reach A's stale view only as ciphertext, "
        "and the model drops a cached page whose frame changes hands";
    return out;
  }
  if (b_stored || run_b.detail.find("tlb_not_tracked") == std::string::npos) {
    throw AttackError(AttackErrc::inconclusive,
                      fmt::format("expected the PSP to refuse B's NPT_MAP: {}", run_b.detail));
  }
  out.by =
      "PSP TLB tracking: NPT_MAP of the unmapped frame refused with tlb_not_tracked until "
      "every vCPU of A has flushed";
  out.layer = Layer::psp_command;
  out.status = psp::Status::tlb_not_tracked;
  out.effect = fmt::format(
      "NPT_UNMAP {} and TLB_TRACK {} without a flush of A's vCPU; VM B faulted at its "
      "secret page ({}); A's second echo returned {}",
      psp::to_string(unmapped.value_or(psp::Status::internal_error)),
      psp::to_string(tracked.value_or(psp::Status::internal_error)), run_b.detail, a_saw);
  return out;
}

}  // namespace

const Scenario kTlbScenarios[] = {
    {"stale-translation",
     "The VMM unmaps VM A's echo page without flushing A's vCPU, backs VM B's secret page with "
     "the frame, lets B store its secret and asks A to echo the page again",
     "Intel TDX module TDH.MEM.TRACK; TF-RMM rtt_unmap", true, "", stale_translation},
};
const std::size_t kTlbScenarioCount = std::size(kTlbScenarios);

}  // namespace cvmsim::lab::attacks
