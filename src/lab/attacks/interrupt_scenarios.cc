// Scenarios against disk completions: the VMM delivers the disk's completion interrupts,
// so it can forge, drop or repeat them (the Heckler and WeSee class of interrupt injection
// into confidential VMs). The guest SDK acts on the PSP's completion record in its private
// memory and takes interrupts as hints (docs/formats.md, "Secure calls").
#include <fmt/format.h>

#include <optional>

#include "common/file_io.h"
#include "hw/cpu/vm_exit.h"
#include "hw/memory_controller.h"
#include "lab/attacks/disk_boot.h"
#include "lab/attacks/scenarios.h"

namespace cvmsim::lab::attacks {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kStatusNoCompletion = "status 256";  // CVM_NO_COMPLETION
static_assert(CVM_NO_COMPLETION == 256);
constexpr std::string_view kInterruptNote =
    "the guard mode is irrelevant: interrupts are the VMM's to deliver in every mode";

// Reconnaissance on an honest boot: the host watches its image file between secure calls
// and notes the first call after which the file had changed (the guest's first write).
class WatchImageWrites : public vmm::Misbehaviour {
 public:
  explicit WatchImageWrites(fs::path image) : image_(std::move(image)) {}
  std::vector<std::uint64_t> on_secure_call(vmm::Platform&, vmm::Vmm&, psp::VmHandle,
                                            std::uint64_t gpa) override {
    Bytes now = read_file(image_);
    if (calls_ > 0 && !first_write_ && now != before_) first_write_ = calls_ - 1;
    before_ = std::move(now);
    ++calls_;
    return {gpa};
  }
  // The index (from 0) of the first secure call that wrote the image.
  [[nodiscard]] std::optional<std::size_t> first_write() const { return first_write_; }

 private:
  fs::path image_;
  Bytes before_;
  std::size_t calls_ = 0;
  std::optional<std::size_t> first_write_;
};

// Holds back the target secure call and injects the disk's completion interrupt in its
// place; at the guest's next call it puts the held-back request page (its ciphertext) in
// again and forwards it first, so that the transfer runs after the guest used its buffer
// and the PSP's sequence numbers stay in step. Host powers only: reads and writes of the
// page's frame, and the PSP mailbox.
class ForgeCompletion : public vmm::Misbehaviour {
 public:
  ForgeCompletion(Bench& bench, std::size_t target) : bench_(bench), target_(target) {}
  std::vector<std::uint64_t> on_secure_call(vmm::Platform& p, vmm::Vmm& vmm, psp::VmHandle vm,
                                            std::uint64_t gpa) override {
    const std::size_t call = calls_++;
    if (call != target_ && held_.empty()) return {gpa};
    const auto frame = bench_.frame_of(vm, gpa);
    if (!frame) return {gpa};
    hw::MemoryController& mc = p.memory_controller();
    if (call == target_) {
      held_.resize(hw::kFrameSize);
      mc.read(*frame, held_, hw::kHostAccess);
      vmm.inject_interrupt(vm, hw::kDiskInterruptVector);
      forged_ = true;
      return {};
    }
    Bytes current(hw::kFrameSize);
    mc.read(*frame, current, hw::kHostAccess);
    mc.write(*frame, held_, hw::kHostAccess);
    (void)p.psp().execute(psp::SecureCall{vm, gpa});  // the held-back transfer, late
    mc.write(*frame, current, hw::kHostAccess);
    held_.clear();
    return {gpa};
  }
  [[nodiscard]] bool forged() const { return forged_; }

 private:
  Bench& bench_;
  std::size_t target_;
  std::size_t calls_ = 0;
  Bytes held_;
  bool forged_ = false;
};

// The boot count disk_demo printed, if it printed one.
std::optional<unsigned long> boot_number(const vmm::RunResult& run) {
  constexpr std::string_view kPrefix = "boot number ";
  const std::size_t at = run.console.find(kPrefix);
  if (at == std::string::npos) return std::nullopt;
  return std::stoul(run.console.substr(at + kPrefix.size()));
}

std::string describe_boot(const vmm::RunResult& run) {
  if (const auto n = boot_number(run)) return fmt::format("boot number {}", *n);
  return fmt::format("no boot count (status {})", run.exit_status.value_or(0xffff));
}

Outcome interrupt_forgery(const RunOptions& o) {
  Bench bench(o);
  const fs::path image = bench.world().dir() / "disk.img";
  bench.world().make_image(demo_spec(), image);
  const auto watch = std::make_shared<WatchImageWrites>(image);
  const vmm::RunResult first = boot(bench, image, watch);
  if (!booted(first) || !watch->first_write() || *watch->first_write() == 0) {
    throw AttackError(AttackErrc::inconclusive, "the honest boot did not write its state block");
  }
  // disk_demo reads its state block in the call before its first write.
  const auto forge = std::make_shared<ForgeCompletion>(bench, *watch->first_write() - 1);
  const vmm::RunResult second = boot(bench, image, forge);
  const vmm::RunResult third = boot(bench, image);
  if (!forge->forged()) throw AttackError(AttackErrc::inconclusive, "no call was dropped");
  Outcome out;
  out.note = std::string(kInterruptNote);
  const std::string attack =
      "the VMM held back the second boot's read of the state block and injected the disk's "
      "completion interrupt at once (the read to run before the guest's next call)";
  if (booted(second) && boot_number(second) == 1u) {
    out.kind = OutcomeKind::succeeded;
    out.effect = fmt::format(
        "{}: the guest took its stale buffer for the block and counted from zero (second "
        "boot: {}; third boot: {})",
        attack, describe_boot(second), describe_boot(third));
  } else if (second.console.find(kStatusNoCompletion) != std::string::npos) {
    out.kind = OutcomeKind::prevented;
    out.by =
        "the guest SDK found no PSP completion record for the read (CVM_NO_COMPLETION) and "
        "disk_demo stopped before using the buffer";
    out.layer = Layer::completion_record;
    out.effect = fmt::format("{}; the count on disk is intact: the next boot reports {}", attack,
                             describe_boot(third));
  } else {
    out.kind = OutcomeKind::prevented;
    out.by = fmt::format("the boot failed (status {})", second.exit_status.value_or(0xffff));
    out.layer = Layer::guest;
    out.effect = attack;
  }
  return out;
}

// Drops every other completion interrupt of the disk and delivers the rest twice.
class DropAndRepeatInterrupts : public vmm::Misbehaviour {
 public:
  unsigned on_disk_interrupt(vmm::Platform&, vmm::Vmm&, psp::VmHandle,
                             const hw::DiskInterrupt&) override {
    if (seen_++ % 2 == 0) {
      ++dropped_;
      return 0;
    }
    ++repeated_;
    return 2;
  }
  [[nodiscard]] std::size_t dropped() const { return dropped_; }
  [[nodiscard]] std::size_t repeated() const { return repeated_; }

 private:
  std::size_t seen_ = 0;
  std::size_t dropped_ = 0;
  std::size_t repeated_ = 0;
};

Outcome interrupt_drop_duplicate(const RunOptions& o) {
  Bench bench(o);
  const fs::path image = bench.world().dir() / "disk.img";
  bench.world().make_image(demo_spec(), image);
  const auto attack = std::make_shared<DropAndRepeatInterrupts>();
  const vmm::RunResult run = boot(bench, image, attack);
  if (attack->dropped() == 0) {
    throw AttackError(AttackErrc::inconclusive, "the boot raised too few disk interrupts");
  }
  Outcome out;
  out.note = std::string(kInterruptNote) + "; withholding the vCPU is still denial of service";
  const std::string attack_text = fmt::format(
      "the VMM dropped {} of the disk's completion interrupts and delivered the other {} twice",
      attack->dropped(), attack->repeated());
  if (booted(run) && boot_number(run) == 1u) {
    out.kind = OutcomeKind::prevented;
    out.by =
        "completion records: every disk request's status comes from the PSP's record in "
        "the guest's private memory, interrupts are only acknowledged";
    out.layer = Layer::completion_record;
    out.effect = attack_text + "; the guest booted and read its disk as usual";
  } else {
    out.kind = OutcomeKind::succeeded;
    out.effect = fmt::format("{}; the boot ended {} ({})", attack_text, to_string(run.fate),
                             describe_boot(run));
  }
  return out;
}

}  // namespace

const Scenario kInterruptScenarios[] = {
    {"interrupt-forgery",
     "The VMM holds back a disk read and injects its completion interrupt at once, so that "
     "the guest uses the stale buffer",
     "Schlüter et al., Heckler: Breaking Confidential VMs with Malicious Interrupts, USENIX "
     "Security 2024 (CVE-2024-25744, CVE-2024-25743)",
     false, "", interrupt_forgery},
    {"interrupt-drop-duplicate",
     "The VMM drops every other disk completion interrupt and delivers the others twice",
     "Schlüter et al., WeSee: Using Malicious #VC Interrupts to Break AMD SEV-SNP, IEEE S&P "
     "2024",
     false, "", interrupt_drop_duplicate},
};
const std::size_t kInterruptScenarioCount = std::size(kInterruptScenarios);

}  // namespace cvmsim::lab::attacks
