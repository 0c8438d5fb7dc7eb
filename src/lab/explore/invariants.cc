// The platform invariants the explorer and the sequence fuzzer check after every step
// (docs/architecture.md, "Explored invariants"), and the state digest that deduplicates
// states. Each check reads hardware state (frame tags, key slots, the tables as the page
// walker sees them) and the PSP's own view, never the world's bookkeeping alone.
#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <map>

#include "common/hex.h"
#include "hw/npt/walker.h"
#include "lab/explore/small_world.h"
#include "measure/launch_plan.h"

namespace cvmsim::lab::explore {
namespace {

bool guarded(const WorldConfig& config) {
  return config.guard != measure::GuardMode::off;
}

// The GPAs whose translations the checks look at: the explored pages and the firmware's.
std::vector<std::uint64_t> checked_gpas(const WorldConfig& config) {
  std::vector<std::uint64_t> gpas;
  for (std::size_t i = 0; i < config.guest_pages; ++i) gpas.push_back(kExploredGpa + i * 4096);
  gpas.push_back(measure::GuestLayout{}.load_gpa);
  return gpas;
}

}  // namespace

std::vector<std::string> SmallWorld::check(const Action& last, const StepResult& result) {
  std::vector<std::string> broken;
  psp::Psp& psp = platform_->psp();
  hw::MemoryController& mc = platform_->memory_controller();
  // The PSP answers every command with a status of its own; internal_error means a handler
  // met input it did not validate.
  if (result.status == psp::Status::internal_error) {
    broken.push_back("the PSP answered internal_error: a handler missed a check");
  }
  std::map<std::uint32_t, psp::VmHandle> asids;
  for (std::size_t v = 0; v < vms_.size(); ++v) {
    const VmSlot& slot = vms_[v];
    const auto info = psp.vm_info(slot.handle);
    if (slot.decommissioned) {
      // Decommissioned: no frame tagged for it, its key slot empty, and (right after the
      // command) every frame tagged for it before is the host's again and reads as zeros.
      if (info) broken.push_back(fmt::format("vm{} is still known after DECOMMISSION", v));
      if (!mc.frames_of(slot.handle).empty()) {
        broken.push_back(fmt::format("vm{}: frames still tagged for it after DECOMMISSION", v));
      }
      if (mc.has_key(slot.asid) && std::none_of(vms_.begin(), vms_.end(), [&](const VmSlot& o) {
            return !o.decommissioned && o.asid == slot.asid;
          })) {
        broken.push_back(
            fmt::format("vm{}: key slot {} still loaded after DECOMMISSION", v, slot.asid));
      }
      if (last.kind == Action::Kind::decommission && last.vm == v && result.status &&
          *result.status == psp::Status::success) {
        for (const std::uint64_t frame : result.owned_before) {
          const hw::FrameTag tag = mc.tag(frame);
          if (tag.owner != 0 || tag.use != hw::FrameUse::host) {
            broken.push_back(
                fmt::format("vm{}: frame {:#x} not returned to the host at "
                            "DECOMMISSION",
                            v, frame));
            continue;
          }
          Bytes contents(hw::kFrameSize);
          mc.read(frame, contents, hw::Requester::host());
          if (!all_zero(contents)) {
            broken.push_back(
                fmt::format("vm{}: frame {:#x} not scrubbed at DECOMMISSION", v, frame));
          }
        }
      }
      continue;
    }
    if (!info) {
      broken.push_back(fmt::format("vm{}: the PSP no longer knows a VM it launched", v));
      continue;
    }
    // Key slots: one per live VM, loaded while it is not decommissioned.
    if (info->asid != 0) {
      if (auto [it, fresh] = asids.emplace(info->asid, slot.handle); !fresh) {
        broken.push_back(fmt::format("vm{} shares key slot {} with another VM", v, info->asid));
      }
      if (!mc.has_key(info->asid)) {
        broken.push_back(fmt::format("vm{}: key slot {} is empty", v, info->asid));
      }
    }
    // Guarded tables: NPT_MAP checks the entries its walk reads (not the whole table), so
    // on tables tampered elsewhere it may succeed, but then the new GPA must translate,
    // through the tables as they are, to the frame it was asked to map; and tampering does
    // not survive a full periodic check of a running VM.
    bool tables_match = true;
    if (guarded(config_)) {
      const auto digests = psp.npt_digest_check(slot.handle);
      tables_match = digests && digests->first == digests->second;
      if (last.kind == Action::Kind::map && last.vm == v && result.status == psp::Status::success &&
          !result.tables_matched_before) {
        const std::uint64_t gpa = kExploredGpa + std::uint64_t{last.page} * hw::kFrameSize;
        const auto walk = hw::npt::walk(mc, slot.root, gpa, hw::npt::Access::read);
        if (!walk.ok() || walk.translation->hpa != frame_hpa(last.frame)) {
          broken.push_back(fmt::format(
              "vm{}: NPT_MAP on tampered tables succeeded through a tampered entry", v));
        }
      }
      if (last.kind == Action::Kind::tick && !tables_match &&
          info->state == psp::VmState::running) {
        broken.push_back(fmt::format("vm{}: tampered tables survived a periodic check", v));
      }
    }
    // What the VM's tables map (as the hardware walker sees them, when they are the ones
    // the PSP installed): only frames tagged as this VM's guest memory.
    if (!tables_match) continue;
    for (const std::uint64_t gpa : checked_gpas(config_)) {
      const hw::npt::WalkResult walk = hw::npt::walk(mc, slot.root, gpa, hw::npt::Access::read);
      if (!walk.ok()) continue;
      const std::uint64_t frame = walk.translation->hpa & ~(hw::kFrameSize - 1);
      const hw::FrameTag tag = mc.tag(frame);
      if (tag.use != hw::FrameUse::guest || tag.owner != slot.handle) {
        broken.push_back(fmt::format(
            "vm{}: GPA {:#x} maps frame {:#x}, which is not its guest memory (use {}, owner {})", v,
            gpa, frame, static_cast<int>(tag.use), tag.owner));
      }
    }
  }
  // TLB tracking: a frame unmapped from a VM stays that VM's until its vCPUs have flushed
  // past the epoch of the unmap (the VM's epoch advanced and every vCPU flushed since).
  std::erase_if(unmapped_, [&](const Unmapped& u) {
    const auto info = psp.vm_info(vms_[u.vm].handle);
    if (!info) return true;  // decommissioned: scrubbed, its key slot cleared
    if (info->tlb_epoch > u.epoch && info->tlb_oldest_flush > u.epoch) return true;
    const hw::FrameTag tag = mc.tag(u.frame);
    if (tag.owner != vms_[u.vm].handle || tag.use != hw::FrameUse::guest) {
      broken.push_back(fmt::format(
          "frame {:#x} unmapped from vm{} changed hands (use {}, owner {}) before vm{}'s vCPUs "
          "flushed",
          u.frame, u.vm, static_cast<int>(tag.use), tag.owner, u.vm));
    }
    return false;
  });
  if (psp.private_memory().used() > psp.private_memory().budget()) {
    broken.push_back(fmt::format("PSP private memory {} over its budget {}",
                                 psp.private_memory().used(), psp.private_memory().budget()));
  }
  return broken;
}

std::string SmallWorld::digest() {
  // Everything the checks and the PSP's future answers depend on, time excepted (a tick
  // that finds nothing leaves the same state).
  std::string state;
  psp::Psp& psp = platform_->psp();
  hw::MemoryController& mc = platform_->memory_controller();
  for (const VmSlot& slot : vms_) {
    const auto info = psp.vm_info(slot.handle);
    if (!info) {
      state += "gone;";
      continue;
    }
    state += fmt::format("vm state {} stop {} tables {} pool {} awaiting {};",
                         static_cast<int>(info->state), static_cast<int>(info->stop_reason),
                         info->table_pages, info->table_pool, info->frames_awaiting_flush);
    if (const auto digests = psp.npt_digest_check(slot.handle)) {
      state += "digest " + to_hex(digests->first) + " now " + to_hex(digests->second) + ";";
    }
    Bytes root(hw::kFrameSize);
    mc.read(slot.root, root, hw::Requester::host());
    unsigned char root_hash[SHA256_DIGEST_LENGTH];
    SHA256(root.data(), root.size(), root_hash);
    state += "root " + to_hex(ByteView(root_hash, sizeof root_hash)) + ";";
    for (const std::uint64_t gpa : checked_gpas(config_)) {
      const auto walk = hw::npt::walk(mc, slot.root, gpa, hw::npt::Access::read);
      state += walk.ok() ? fmt::format("{:x},", walk.translation->hpa) : "-,";
    }
  }
  for (const std::uint64_t frame : pool_) {
    const hw::FrameTag tag = mc.tag(frame);
    state += fmt::format("pool {} {} {} {};", tag.asid, tag.owner, static_cast<int>(tag.use),
                         static_cast<int>(tag.guard));
  }
  for (const Unmapped& u : unmapped_) state += fmt::format("unmapped {:x} {};", u.frame, u.vm);
  state += fmt::format("private {};", psp.private_memory().used());
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(state.data()), state.size(), hash);
  return to_hex(ByteView(hash, sizeof hash));
}

}  // namespace cvmsim::lab::explore
