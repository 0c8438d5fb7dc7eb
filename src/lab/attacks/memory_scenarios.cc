// Scenarios against guest memory and the secure-call channel: ciphertext replay
// (rollback), the ciphertext side channel, ASID reuse after decommission, the VMM reading
// memory and the image file, and replayed or reordered secure calls.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "common/file_io.h"
#include "hw/hw_error.h"
#include "lab/attacks/lab_bench.h"
#include "lab/attacks/scenarios.h"

namespace cvmsim::lab::attacks {
namespace {

using measure::GuardMode;

const char* kGuardIndependent =
    "memory contents are not covered by the NPT guard: the same in every guard mode";

Outcome memory_replay(const RunOptions& o) {
  Bench bench(o);
  // '1' writes VERSION-1, 'r' reads it back, '2' overwrites it, 'r' reads again.
  const psp::VmHandle vm = bench.launch_victim("1r2r");
  auto attack = std::make_shared<AtCommand>();
  Bytes old_ciphertext(hw::kFrameSize);
  std::uint64_t frame = 0;
  std::string refused;  // the memory controller's refusal of the rollback, if any
  attack->at(2, [&](vmm::Platform& p, vmm::Vmm&, psp::VmHandle) {
    frame = *bench.frame_of(vm, kRecordGpa);
    p.memory_controller().read(frame, old_ciphertext, hw::kHostAccess);  // VERSION-1
  });
  attack->at(3, [&](vmm::Platform& p, vmm::Vmm&, psp::VmHandle) {
    try {
      p.memory_controller().write(frame, old_ciphertext, hw::kHostAccess);  // roll back
    } catch (const hw::HwError& e) {
      refused = e.what();
    }
  });
  bench.vmm().set_misbehaviour(attack);
  const vmm::RunResult run = bench.vmm().run(vm);
  const std::string second =
      run.host_output.size() >= 20 ? printable(ByteView(run.host_output).subspan(10, 9)) : "";
  Outcome out;
  if (second == "VERSION-1") {
    out.kind = OutcomeKind::succeeded;
    out.effect =
        "the guest wrote VERSION-2, then read back VERSION-1: the VMM restored the "
        "frame's old ciphertext";
    out.note = std::string(
                   "no memory integrity (as SEV and SEV-ES): SEV-SNP's RMP or TDX's "
                   "integrity-protected memory would prevent it; ") +
               kGuardIndependent;
    out.note += "; policy memory-integrity=on refuses the host's write (table below)";
  } else {
    out.kind = OutcomeKind::prevented;
    if (!refused.empty()) {
      out.by =
          "memory controller: the host's write to the VM's frame was refused (policy "
          "memory-integrity, as SEV-SNP's RMP)";
      out.layer = Layer::memory_controller;
    }
    out.effect = fmt::format("the guest read back \"{}\"", second);
  }
  return out;
}

constexpr std::size_t kLeakedKeyBits = 32;  // the key's first four characters

// CipherLeaks (Li et al., USENIX Security 2021): XTS with the frame's address as tweak is
// deterministic, so the same value stored at the same address gives the same ciphertext.
// The victim stores a known zero, then each bit of its key in turn, in one 16-byte block;
// the host reads the block's ciphertext after every store and calls a bit 1 exactly when
// the ciphertext differs from the zero's. Equality is all it uses: no key, no plaintext.
Outcome ciphertext_side_channel(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle vm = bench.launch_victim("z" + std::string(kLeakedKeyBits, 'b') + "n");
  auto attack = std::make_shared<AtCommand>();
  Bytes reference;
  std::vector<Bytes> observed;
  const auto observe = [&bench, vm](vmm::Platform& p) {
    Bytes block(16);
    p.memory_controller().read(*bench.frame_of(vm, kBitSlotGpa), block, hw::kHostAccess);
    return block;
  };
  // Command k is read once the guest has done commands 0..k-1: 'z' is command 0, the
  // bit stores are commands 1..32.
  attack->at(1, [&](vmm::Platform& p, vmm::Vmm&, psp::VmHandle) { reference = observe(p); });
  for (std::size_t bit = 0; bit < kLeakedKeyBits; ++bit) {
    attack->at(bit + 2,
               [&](vmm::Platform& p, vmm::Vmm&, psp::VmHandle) { observed.push_back(observe(p)); });
  }
  bench.vmm().set_misbehaviour(attack);
  (void)bench.vmm().run(vm);
  if (reference.empty() || observed.size() != kLeakedKeyBits) {
    throw AttackError(AttackErrc::inconclusive, fmt::format("the victim stored {} of {} bits",
                                                            observed.size(), kLeakedKeyBits));
  }
  std::string recovered(kLeakedKeyBits / 8, '\0');
  for (std::size_t bit = 0; bit < kLeakedKeyBits; ++bit) {
    if (observed[bit] != reference) recovered[bit / 8] |= static_cast<char>(1 << (bit % 8));
  }
  const std::string_view key = kSecret.substr(kKeyOffset, kLeakedKeyBits / 8);
  Outcome out;
  if (recovered == key) {
    out.kind = OutcomeKind::succeeded;
    out.effect = fmt::format(
        "the host recovered {} bits of the victim's key from ciphertext equality alone: "
        "\"{}\"",
        kLeakedKeyBits, printable(as_bytes(recovered)));
    out.note =
        "address-tweaked XTS is deterministic (the same value at the same address gives the "
        "same ciphertext); policy ciphertext-hiding=on hides it (table below); "
        "guard-independent";
  } else {
    out.kind = OutcomeKind::prevented;
    const bool hidden = reference == Bytes(16, hw::kHiddenCiphertextByte);
    out.by = hidden ? fmt::format(
                          "memory controller: ciphertext hiding (policy "
                          "ciphertext-hiding): host reads of the VM's frame return "
                          "{:#04x} bytes",
                          hw::kHiddenCiphertextByte)
                    : "the ciphertext did not follow the plaintext";
    out.layer = hidden ? Layer::memory_controller : Layer::memory_encryption;
    out.effect = fmt::format(
        "every observation of the slot {}; the host's guess of the key was \"{}\"",
        hidden ? "read the same fixed pattern" : "differed", printable(as_bytes(recovered)));
  }
  return out;
}

Outcome asid_reuse(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle a = bench.launch_victim("");
  (void)bench.vmm().run(a);
  const std::uint32_t asid_a = bench.platform().psp().vm_info(a)->asid;
  const std::uint64_t secret_frame = *bench.frame_of(a, kSecretGpa);
  bench.vmm().decommission(a);
  // The new VM gets the old ASID; the VMM backs its record page with A's old secret frame.
  const psp::VmHandle b = bench.launch_victim("r");
  const std::uint32_t asid_b = bench.platform().psp().vm_info(b)->asid;
  std::string mapped_by;
  if (o.guard == GuardMode::off) {
    auto attack = std::make_shared<AtCommand>();
    attack->at(0, [&](vmm::Platform&, vmm::Vmm&, psp::VmHandle) {
      bench.host_map(b, kRecordGpa, secret_frame);
    });
    bench.vmm().set_misbehaviour(attack);
    mapped_by = "the VMM's own NPT edit";
  } else {
    class MapOldFrame : public vmm::Misbehaviour {
     public:
      explicit MapOldFrame(std::uint64_t f) : frame_(f) {}
      void on_npt_map(vmm::Platform&, vmm::Vmm&, psp::NptMap& map) override {
        if (map.gpa <= kRecordGpa && kRecordGpa < map.gpa + map.pages * hw::kFrameSize) {
          map = {map.vm, kRecordGpa, frame_, 1, map.permissions};
        }
      }

     private:
      std::uint64_t frame_;
    };
    bench.vmm().set_misbehaviour(std::make_shared<MapOldFrame>(secret_frame));
    mapped_by = "an NPT_MAP the PSP accepted (the frame was free again)";
  }
  const vmm::RunResult run = bench.vmm().run(b);
  Outcome out;
  const bool leaked = contains(run.host_output, kSecret.substr(0, 10));
  out.kind = leaked ? OutcomeKind::succeeded : OutcomeKind::prevented;
  out.by =
      "DECOMMISSION scrubs the VM's frames and LAUNCH_START loads a fresh VEK into the "
      "reused ASID";
  if (!leaked) out.layer = Layer::memory_encryption;
  const bool zeros = std::all_of(run.host_output.begin(), run.host_output.end(),
                                 [](std::uint8_t byte) { return byte == 0; });
  out.effect = fmt::format(
      "ASID {} reused by the new VM (old VM: ASID {}); its page on the old "
      "secret frame ({}) reads {}",
      asid_b, asid_a, mapped_by, zeros ? "as zeros" : "as garbage (scrubbed, then another key)");
  if (asid_a != asid_b) out.note = "the PSP did not hand out the same ASID this time";
  return out;
}

Outcome vmm_reads(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle vm = bench.launch_victim("");
  (void)bench.vmm().run(vm);
  Bytes dram(hw::kFrameSize);
  bench.platform().memory_controller().read(*bench.frame_of(vm, kSecretGpa), dram, hw::kHostAccess);
  // The image file of a protected image, as the host stores it.
  ImageSpec spec;
  spec.volume.kernel = guest_program("disk_demo");
  const std::string marker = "PLAINTEXT-MARKER-OF-THE-TENANT";
  spec.volume.files.push_back({"notes", Bytes(marker.begin(), marker.end())});
  const auto image = bench.world().dir() / "disk.img";
  bench.world().make_image(spec, image);
  const Bytes file = read_file(image);
  Outcome out;
  const bool leaked =
      contains(dram, kSecret) || contains(file, marker) || contains(file, "CVMSBOOT");
  out.kind = leaked ? OutcomeKind::succeeded : OutcomeKind::prevented;
  out.by = "memory encryption (VEK per ASID) and the image key (XTS on disk)";
  if (!leaked) out.layer = Layer::memory_encryption;
  out.effect =
      "the secret's frame reads as ciphertext and the image file holds no "
      "plaintext of the volume (neither the secret, the boot header nor a file)";
  out.note =
      "with memory-encryption=off in the policy the VMM reads guest memory in the clear "
      "(the disk stays encrypted); guard-independent";
  return out;
}

std::string attest_commands(int calls) {
  std::string s;
  for (int i = 0; i < calls; ++i) s += "a" + std::string(64, static_cast<char>('A' + i));
  return s;
}

class ReplaySecureCalls : public vmm::Misbehaviour {
 public:
  std::vector<std::uint64_t> on_secure_call(vmm::Platform&, vmm::Vmm&, psp::VmHandle,
                                            std::uint64_t gpa) override {
    return {gpa, gpa};  // forward, then forward the same request again
  }
};

Outcome secure_call_replay(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle vm = bench.launch_victim(attest_commands(2));
  bench.vmm().set_misbehaviour(std::make_shared<ReplaySecureCalls>());
  const vmm::RunResult run = bench.vmm().run(vm);
  Outcome out;
  const bool all_refused = run.stats.secure_calls == 2 && run.stats.secure_calls_refused == 2;
  out.kind = all_refused ? OutcomeKind::prevented : OutcomeKind::succeeded;
  out.by = "PSP sequence number: each replay refused with replayed_request";
  if (out.kind == OutcomeKind::prevented) {
    out.layer = Layer::psp_command;
    out.status = psp::Status::replayed_request;
  }
  out.effect = fmt::format(
      "{} calls forwarded twice each: {} replays refused, the PSP acted "
      "once per request",
      run.stats.secure_calls, run.stats.secure_calls_refused);
  out.note = "the VMM can still drop calls (denial of service is outside the threat model)";
  return out;
}

// At the second call the VMM puts the first call's request page (ciphertext) back.
class ReorderSecureCalls : public vmm::Misbehaviour {
 public:
  explicit ReorderSecureCalls(Bench& bench) : bench_(bench) {}
  std::vector<std::uint64_t> on_secure_call(vmm::Platform& p, vmm::Vmm&, psp::VmHandle vm,
                                            std::uint64_t gpa) override {
    const std::uint64_t frame = *bench_.frame_of(vm, gpa);
    if (first_.empty()) {
      first_.resize(hw::kFrameSize);
      p.memory_controller().read(frame, first_, hw::kHostAccess);
    } else {
      p.memory_controller().write(frame, first_, hw::kHostAccess);
    }
    return {gpa};
  }

 private:
  Bench& bench_;
  Bytes first_;
};

Outcome secure_call_reorder(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle vm = bench.launch_victim(attest_commands(2));
  bench.vmm().set_misbehaviour(std::make_shared<ReorderSecureCalls>(bench));
  const vmm::RunResult run = bench.vmm().run(vm);
  Outcome out;
  out.kind = run.stats.secure_calls_refused == 1 ? OutcomeKind::prevented : OutcomeKind::succeeded;
  out.by = "PSP sequence number: the stale request refused with replayed_request";
  if (out.kind == OutcomeKind::prevented) {
    out.layer = Layer::psp_command;
    out.status = psp::Status::replayed_request;
  }
  out.effect = fmt::format(
      "the VMM swapped the first request's ciphertext in for the second; "
      "{} of {} calls refused, the guest saw {}",
      run.stats.secure_calls_refused, run.stats.secure_calls,
      contains(run.host_output, "A-ERR") ? "its call fail" : "no failure");
  return out;
}

}  // namespace

const Scenario kMemoryScenarios[] = {
    {"memory-replay",
     "The VMM saves the ciphertext of a guest frame and writes it back after the guest "
     "updated the page (rollback)",
     "", false,
     "memory encryption without integrity cannot notice restored ciphertext; no "
     "guard mode covers memory contents (SEV-SNP's RMP and TDX do; here policy "
     "memory-integrity=on)",
     memory_replay, "memory-integrity"},
    {"ciphertext-side-channel",
     "The guest stores each bit of its key at one address; the VMM compares each store's "
     "ciphertext with that of a known zero",
     "Li et al., CipherLeaks: Breaking Constant-time Cryptography on AMD SEV via the "
     "Ciphertext Side Channel, USENIX Security 2021",
     false,
     "the memory encryption is deterministic per address, whatever protects the NPT; "
     "policy ciphertext-hiding=on hides the ciphertext",
     ciphertext_side_channel, "ciphertext-hiding"},
    {"asid-reuse",
     "After a VM is decommissioned the VMM starts a new VM on its ASID and backs a page "
     "with the old VM's secret frame",
     "Li et al., CrossLine: Breaking \"Security-by-Crash\" based Memory Isolation in AMD SEV, "
     "CCS 2021",
     false, "", asid_reuse},
    {"vmm-reads", "The VMM reads the victim's secret frame from DRAM and the protected image file",
     "", false, "", vmm_reads},
    {"secure-call-replay", "The VMM forwards every secure call twice", "", false, "",
     secure_call_replay},
    {"secure-call-reorder",
     "The VMM restores the first request page's ciphertext before forwarding the second call", "",
     false, "", secure_call_reorder},
};
const std::size_t kMemoryScenarioCount = std::size(kMemoryScenarios);

}  // namespace cvmsim::lab::attacks
