// Scenarios against the nested page tables: SEVered remapping, silent edits between PSP
// updates, permission flips, and mapping frames that are not the VM's own.
#include <fmt/format.h>

#include "hw/npt.h"
#include "lab/attacks/lab_bench.h"
#include "lab/attacks/scenarios.h"

namespace cvmsim::lab::attacks {
namespace {

namespace npt = hw::npt;
using measure::GuardMode;

// Enough 'n' commands (2 sim-us each) to outlast two periodic-check intervals.
std::string ticks(std::size_t intervals = 2) {
  return std::string(intervals * vmm::kDefaultCheckIntervalUs / 2 + 16, 'n');
}

const char* kIsolateBlock =
    "memory controller: the host's write to the isolate-mode NPT frame was refused";

// The SEVered remap: the echo buffer's entry is pointed at the secret's frame of the same
// VM (so the VM's own key decrypts it), at command `at`.
Outcome remap_echo_to_secret(const RunOptions& o, const std::string& commands, std::size_t at) {
  Bench bench(o);
  const psp::VmHandle vm = bench.launch_victim(commands);
  auto attack = std::make_shared<AtCommand>();
  bool edited = false;
  attack->at(at, [&](vmm::Platform&, vmm::Vmm&, psp::VmHandle) {
    const auto secret = bench.frame_of(vm, kSecretGpa);
    const auto entry = bench.leaf_entry(vm, kEchoGpa);
    if (!secret || !entry) throw AttackError(AttackErrc::inconclusive, "victim pages not mapped");
    const std::uint64_t old = bench.read_entry(*entry);
    edited = bench.write_entry(*entry, (old & ~npt::kFrameMask) | *secret);
    bench.vmm().flush_tlb(vm);
  });
  bench.vmm().set_misbehaviour(attack);
  const vmm::RunResult run = bench.vmm().run(vm);
  Outcome out;
  if (!edited) {
    out.kind = OutcomeKind::prevented;
    out.by = kIsolateBlock;
    out.layer = Layer::memory_controller;
    out.effect = fmt::format("the echo service returned its own buffer: \"{}\"",
                             printable(run.host_output, 19));
    return out;
  }
  if (contains(run.host_output, kSecret)) {
    out.kind = OutcomeKind::succeeded;
    out.effect =
        fmt::format("the echo service leaked the secret page: \"{}\"", printable(run.host_output));
  } else {
    out.kind = OutcomeKind::prevented;
    out.effect = "the echo service never answered";
  }
  record_detection(out, npt_detection(run, *attack, bench.platform()));
  if (out.kind == OutcomeKind::succeeded && o.guard == GuardMode::off) {
    out.note = "guard off: the VMM owns the NPT, nothing checks it (the SEV baseline)";
  }
  return out;
}

Outcome severed(const RunOptions& o) {
  return remap_echo_to_secret(o, "e" + ticks(), 0);
}

Outcome silent_edit(const RunOptions& o) {
  // The edit comes long before the echo: only the periodic check can see it in between.
  Outcome out = remap_echo_to_secret(o, ticks() + "e" + ticks(), 0);
  if (out.detected_after_us) {
    out.note += fmt::format(
        "{}detection bound: one check interval ({} sim-us, whole table "
        "per tick)",
        out.note.empty() ? "" : "; ", vmm::kDefaultCheckIntervalUs);
  }
  return out;
}

Outcome permission_flip(const RunOptions& o) {
  Bench bench(o);
  // 't' faults on the page next to the read-only one; 'w' writes the read-only page.
  const psp::VmHandle vm = bench.launch_victim("tw" + ticks());
  // The tenant's read-only, no-execute page (set up honestly before the run).
  if (o.guard == GuardMode::off) {
    bench.host_map(vm, kReadOnlyGpa, bench.platform().frames().allocate(1)->hpa, npt::kPresent);
  } else if (!bench.psp_map(vm, kReadOnlyGpa, {false, false, false}).ok()) {
    throw AttackError(AttackErrc::inconclusive, "the PSP refused the read-only mapping");
  }
  auto attack = std::make_shared<AtCommand>();
  bool edited = false;
  attack->at(0, [&](vmm::Platform&, vmm::Vmm&, psp::VmHandle) {
    const std::uint64_t entry = *bench.leaf_entry(vm, kReadOnlyGpa);
    edited = bench.write_entry(entry, bench.read_entry(entry) | npt::kWritable | npt::kExecutable);
    bench.vmm().flush_tlb(vm);
  });
  bench.vmm().set_misbehaviour(attack);
  const vmm::RunResult run = bench.vmm().run(vm);
  Outcome out;
  if (!edited) {
    out.kind = OutcomeKind::prevented;
    out.by = kIsolateBlock;
    out.layer = Layer::memory_controller;
    out.effect = run.fate == vmm::VmFate::guest_fault
                     ? "the guest's write to its read-only page still faults"
                     : "the page stayed read-only";
    return out;
  }
  if (contains(run.host_output, "W-OK")) {
    out.kind = OutcomeKind::succeeded;
    out.effect =
        "read-only + no-execute became writable + executable: the guest's write went "
        "through";
  } else {
    out.kind = OutcomeKind::prevented;
    out.effect = fmt::format("the write did not happen ({})", run.detail);
  }
  record_detection(out, npt_detection(run, *attack, bench.platform()));
  if (out.kind == OutcomeKind::detected) {
    out.effect = "the flip was found before the guest used the page";
    out.note =
        "merkle checks the chunks an update walks: an NPT_MAP next to the page "
        "finds it at once; an edit far from any update waits for the periodic check";
  }
  return out;
}

// Maps a frame that is not the VM's own into the victim at the echo buffer: with the guard
// off by editing the table, guarded by asking the PSP (NPT_MAP rewritten).
class RewriteEchoMap : public vmm::Misbehaviour {
 public:
  explicit RewriteEchoMap(std::uint64_t frame) : frame_(frame) {}
  void on_npt_map(vmm::Platform&, vmm::Vmm&, psp::NptMap& map) override {
    if (map.gpa <= kEchoGpa && kEchoGpa < map.gpa + map.pages * hw::kFrameSize) {
      map.gpa = kEchoGpa;
      map.hpa = frame_;
      map.pages = 1;
    }
  }

 private:
  std::uint64_t frame_;
};

struct ForeignMap {
  vmm::RunResult run;
  bool host_edit_refused = false;
};

// `commands` run in the victim; in off mode the echo entry is rewritten at command 0.
ForeignMap map_foreign(Bench& bench, psp::VmHandle vm, std::uint64_t frame) {
  ForeignMap result;
  if (bench.guard() == GuardMode::off) {
    auto attack = std::make_shared<AtCommand>();
    attack->at(0, [&](vmm::Platform&, vmm::Vmm&, psp::VmHandle) {
      result.host_edit_refused = !bench.host_map(vm, kEchoGpa, frame);
    });
    bench.vmm().set_misbehaviour(attack);
  } else {
    bench.vmm().set_misbehaviour(std::make_shared<RewriteEchoMap>(frame));
  }
  result.run = bench.vmm().run(vm);
  bench.vmm().set_misbehaviour(nullptr);
  return result;
}

// Guarded modes: the PSP's frame-owner check must have refused the NPT_MAP.
Outcome owner_refusal(const vmm::RunResult& run, std::string_view what) {
  Outcome out;
  if (run.fate != vmm::VmFate::guest_fault ||
      run.detail.find("frame_not_available") == std::string::npos) {
    throw AttackError(AttackErrc::inconclusive,
                      fmt::format("expected the PSP to refuse the map: {}", run.detail));
  }
  out.kind = OutcomeKind::prevented;
  out.by = "PSP frame-owner check: NPT_MAP refused with frame_not_available";
  out.layer = Layer::psp_command;
  out.status = psp::Status::frame_not_available;
  out.effect = fmt::format(
      "{} never became part of the VM; the VM faulted at its first "
      "touch of the page ({})",
      what, run.detail);
  return out;
}

Outcome cross_vm(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle a = bench.launch_victim("");
  (void)bench.vmm().run(a);
  const std::uint64_t secret_a = *bench.frame_of(a, kSecretGpa);
  const psp::VmHandle b = bench.launch_victim("e");
  const ForeignMap m = map_foreign(bench, b, secret_a);
  if (o.guard != GuardMode::off) return owner_refusal(m.run, "VM A's secret frame");
  Outcome out;
  out.kind = contains(m.run.host_output, kSecret) ? OutcomeKind::succeeded : OutcomeKind::prevented;
  out.by = "memory encryption: VM B reads VM A's frame through B's key";
  out.layer = Layer::memory_encryption;
  out.effect = fmt::format(
      "the NPT edit went through; VM B's echo returned {} bytes of A's "
      "ciphertext decrypted with B's key (garbage, no secret)",
      m.run.host_output.size());
  out.note =
      "guard off: confidentiality holds, integrity does not: B's stores would garble "
      "A's page (no owner check without the PSP)";
  return out;
}

Outcome psp_frame(const RunOptions& o) {
  Bench bench(o);
  // A guarded VM whose Merkle-tree frames belong to the PSP.
  const psp::VmHandle guarded = bench.launch_victim("", GuardMode::detect);
  const auto merkle = bench.frame_used_as(guarded, hw::FrameUse::merkle);
  if (!merkle) throw AttackError(AttackErrc::inconclusive, "no Merkle frame to aim at");
  const psp::VmHandle vm = bench.launch_victim("ex");
  const ForeignMap m = map_foreign(bench, vm, *merkle);
  if (o.guard != GuardMode::off) return owner_refusal(m.run, "a PSP-owned Merkle frame");
  Outcome out;
  const bool intact = bench.platform().psp().periodic_check().empty();
  if (m.run.fate == vmm::VmFate::guest_fault && intact) {
    out.kind = OutcomeKind::prevented;
    out.by = "memory controller: PSP frames are write-blocked for guests and the host";
    out.layer = Layer::memory_controller;
    out.effect = fmt::format(
        "the guest read {} bytes of garbage and its store faulted; the "
        "PSP's tree still verifies",
        m.run.host_output.size());
  } else {
    out.kind = OutcomeKind::succeeded;
    out.effect = "the guest wrote into a PSP frame";
  }
  out.note = "guard off: the NPT edit itself is not noticed; the frame guard is hardware";
  return out;
}

Outcome npt_frame(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle vm = bench.launch_victim("ex");
  const std::uint64_t root = bench.npt_root(vm);
  const std::uint64_t entry0 = bench.read_entry(root);
  const ForeignMap m = map_foreign(bench, vm, root);
  if (o.guard != GuardMode::off) return owner_refusal(m.run, "the VM's own NPT root");
  Outcome out;
  const std::uint64_t after = bench.read_entry(root);
  if (after != entry0) {
    out.kind = OutcomeKind::succeeded;
    out.effect = "the guest's store landed in its own NPT root: its first entry is garbled";
    out.note = "guard off: the VMM maps what it likes (the SEV baseline)";
  } else {
    out.kind = OutcomeKind::prevented;
    out.effect = fmt::format("the root is unchanged ({})", m.run.detail);
  }
  return out;
}

}  // namespace

const Scenario kNptScenarios[] = {
    {"severed",
     "The VMM remaps the victim's echo buffer to the frame of its secret page and asks the "
     "echo service for it",
     "Morbitzer et al., SEVered: Subverting AMD's Virtual Machine Encryption, EuroSec 2018", true,
     "detect mode finds the edit only at the next NPT_MAP that walks it or at the periodic "
     "check; an attacker who uses the remap at once leaks within that window (isolate closes it)",
     severed},
    {"npt-silent-edit",
     "The VMM remaps a page between PSP updates and waits before using it: only the periodic "
     "check can see the edit",
     "", true, "", silent_edit},
    {"npt-permission-flip",
     "The VMM sets writable and executable on a read-only, no-execute page behind the PSP's "
     "back",
     "", true, "", permission_flip},
    {"cross-vm-map", "The VMM maps a frame of VM A into VM B and B echoes it", "", true, "",
     cross_vm},
    {"map-psp-frame", "The VMM maps a PSP-owned (Merkle tree) frame into a guest that writes it",
     "", true, "", psp_frame},
    {"map-npt-frame", "The VMM maps the VM's own NPT root into it as a data page", "", true, "",
     npt_frame},
};
const std::size_t kNptScenarioCount = std::size(kNptScenarios);

}  // namespace cvmsim::lab::attacks
