// Scenarios against the platform's hardware configuration: DRAM aliasing (BadRAM).
#include "lab/attacks/dram_alias.h"

#include <fmt/format.h>

#include <filesystem>

#include "lab/attacks/lab_bench.h"
#include "lab/attacks/scenarios.h"
#include "vmm/vmm_error.h"

namespace cvmsim::lab::attacks {

hw::DramAlias badram_alias(std::uint64_t host_memory) {
  return {.alias = host_memory / 2, .target = 0, .length = host_memory / 2};
}

Outcome dram_alias_replay(const RunOptions& o, bool alias_check) {
  vmm::PlatformOptions platform;
  const hw::DramAlias alias = badram_alias(platform.host_memory);
  platform.dram_aliases = {alias};
  platform.psp.dram_alias_check = alias_check;
  // Each platform's world in a directory of its own: the scenario runs both.
  RunOptions own = o;
  own.workdir = o.workdir / (alias_check ? "checked" : "unchecked");
  std::filesystem::create_directories(own.workdir);
  Bench bench(own, 1, 0, platform);
  Outcome out;
  psp::VmHandle vm = 0;
  try {
    // '1' writes VERSION-1, 'r' reads it back, '2' overwrites it, 'r' reads again.
    vm = bench.launch_victim("1r2r");
  } catch (const vmm::VmmError& e) {
    const psp::Result& boot = bench.platform().psp().boot_result();
    out.kind =
        boot.status == psp::Status::dram_aliased ? OutcomeKind::prevented : OutcomeKind::succeeded;
    out.by = fmt::format(
        "the PSP's boot-time DRAM alias check: its probe pattern showed at HPA {:#x}, so the "
        "platform refuses every command with dram_aliased",
        boot.detail);
    if (out.kind == OutcomeKind::prevented) {
      out.layer = Layer::psp_command;
      out.status = boot.status;
    }
    out.effect = fmt::format("the victim never ran: {}", e.what());
    return out;
  }
  // The host never names the victim's frame: it reads and writes the alias address, whose
  // own frame tag says free host memory (as an RMP entry would let the host write it).
  auto attack = std::make_shared<AtCommand>();
  Bytes old_ciphertext(hw::kFrameSize);
  std::uint64_t through = 0;
  attack->at(2, [&](vmm::Platform& p, vmm::Vmm&, psp::VmHandle) {
    through = *bench.frame_of(vm, kRecordGpa) - alias.target + alias.alias;
    p.memory_controller().read(through, old_ciphertext, hw::kHostAccess);  // VERSION-1
  });
  attack->at(3, [&](vmm::Platform& p, vmm::Vmm&, psp::VmHandle) {
    p.memory_controller().write(through, old_ciphertext, hw::kHostAccess);  // roll back
  });
  bench.vmm().set_misbehaviour(attack);
  const vmm::RunResult run = bench.vmm().run(vm);
  const std::string second =
      run.host_output.size() >= 20 ? printable(ByteView(run.host_output).subspan(10, 9)) : "";
  const bool saw_plaintext = contains(old_ciphertext, "VERSION-1");
  if (second == "VERSION-1" && !saw_plaintext) {
    out.kind = OutcomeKind::succeeded;
    out.effect = fmt::format(
        "the host read the record frame's ciphertext through alias HPA {:#x} (a frame tagged "
        "free host memory), wrote it back there after the guest stored VERSION-2, and the "
        "guest read back VERSION-1",
        through);
  } else {
    out.kind = OutcomeKind::prevented;
    out.effect = fmt::format("the guest read back \"{}\"{}", second,
                             saw_plaintext ? "; the alias showed plaintext (a model defect)" : "");
  }
  return out;
}

namespace {

Outcome dram_alias(const RunOptions& o) {
  const Outcome without = dram_alias_replay(o, false);
  Outcome with = dram_alias_replay(o, true);
  with.note = fmt::format(
      "without the check (firmware before the fix) the attack {}: {}; the check probes one "
      "frame per power-of-two distance from the first frame of memory, so an alias at "
      "another distance, or one that spares the first frame, escapes it",
      to_string(without.kind), without.effect);
  return with;
}

}  // namespace

const Scenario kPlatformScenarios[] = {
    {"dram-alias",
     "On a platform whose SPD claims an address bit its DRAM ignores, the VMM snapshots a "
     "guest frame's ciphertext through the alias address and writes it back there after "
     "the guest updated the page",
     "De Meulemeester et al., BadRAM: Practical Memory Aliasing Attacks on Trusted Execution "
     "Environments, IEEE S&P 2025",
     false, "", dram_alias},
};
const std::size_t kPlatformScenarioCount = std::size(kPlatformScenarios);

}  // namespace cvmsim::lab::attacks
