#include "lab/explore/small_world.h"

#include <fmt/format.h>

#include "common/error.h"
#include "hw/hw_error.h"
#include "hw/npt/walker.h"
#include "measure/launch_plan.h"
#include "vmm/vmm_error.h"

namespace cvmsim::lab::explore {
namespace {

// The explored VMs run nothing: their firmware is one page of `hlt`.
Bytes halting_firmware() {
  return Bytes(hw::kFrameSize, 0xf4);
}

psp::Status status_of(const psp::Response& response) {
  return response.result.status;
}

}  // namespace

WorldSetup::WorldSetup(const World& world, const WorldConfig& config_in)
    : fuses(psp::load_chip_fuses(world.chip_dir())),
      config(config_in),
      request(world.launch_request(halting_firmware(), measure::Policy{.guard = config_in.guard})),
      plan(measure::plan_firmware_launch(request.firmware, measure::GuestLayout{},
                                         "explore firmware")) {}

SmallWorld::SmallWorld(const WorldSetup& setup)
    : setup_(setup),
      config_(setup.config),
      platform_(std::make_unique<vmm::Platform>(setup.fuses.clone())) {
  platform_->psp().set_periodic_check({kCheckIntervalUs, 0});  // whole tables every tick
  vms_.resize(config_.vms);
  for (VmSlot& slot : vms_) launch(slot);
  for (std::size_t i = 0; i < config_.pool_frames; ++i) pool_.push_back(take_frame());
}

SmallWorld::~SmallWorld() = default;

std::uint64_t SmallWorld::take_frame() {
  const auto run = platform_->frames().allocate(1);
  if (!run) throw vmm::VmmError(vmm::VmmErrc::out_of_frames, "explore: no free frame left");
  return run->hpa;
}

void SmallWorld::launch(VmSlot& slot) {
  psp::Psp& psp = platform_->psp();
  const vmm::LaunchRequest& request = setup_.request;
  auto expect = [&](const psp::Command& command) {
    const psp::Response response = psp.execute(command);
    if (!response.ok()) {
      throw vmm::VmmError(
          vmm::VmmErrc::launch_refused,
          fmt::format("explore: the PSP refused {} while launching: {}",
                      psp::kCommandNames[command.index()], psp::to_string(response.result.status)));
    }
    return response;
  };
  slot.root = take_frame();
  const psp::Response started = expect(psp::LaunchStart{request.policy.encode(), slot.root});
  const auto& info = std::get<psp::LaunchStartInfo>(started.payload);
  slot.handle = info.vm;
  slot.asid = info.asid;
  psp::NptDonate donate{slot.handle, {}};
  for (int i = 0; i < 32; ++i) donate.frames.push_back(take_frame());  // as the VMM does
  expect(donate);
  for (const measure::LaunchPage& page : setup_.plan.pages) {
    const bool vcpu = page.type == measure::PageType::vcpu_state;
    const std::uint64_t hpa = vcpu ? 0 : take_frame();
    expect(psp::LaunchUpdate{slot.handle, page.gpa, page.type, hpa, page.contents});
    if (!vcpu && page.type == measure::PageType::firmware && slot.firmware_frame == 0) {
      slot.firmware_frame = hpa;
    }
  }
  expect(psp::LaunchVerify{slot.handle, request.reference, request.provider_key});
  expect(psp::LaunchFinish{slot.handle});
}

std::uint64_t SmallWorld::frame_hpa(const FrameRef& frame) const {
  switch (frame.kind) {
    case FrameRef::Kind::pool:
      return pool_.at(frame.index % pool_.size());
    case FrameRef::Kind::npt_root:
      return vms_.at(frame.index % vms_.size()).root;
    case FrameRef::Kind::launch_page:
      return vms_.at(frame.index % vms_.size()).firmware_frame;
  }
  return 0;
}

StepResult SmallWorld::apply(const Action& a) {
  StepResult result;
  VmSlot& slot = vms_.at(a.vm % vms_.size());
  psp::Psp& psp = platform_->psp();
  hw::MemoryController& mc = platform_->memory_controller();
  const std::uint64_t gpa = kExploredGpa + std::uint64_t{a.page} * hw::kFrameSize;
  const auto digests = psp.npt_digest_check(slot.handle);
  result.tables_matched_before = !digests || digests->first == digests->second;
  if (a.kind == Action::Kind::decommission) result.owned_before = mc.frames_of(slot.handle);
  auto host_write = [&](std::uint64_t hpa, ByteView bytes) {
    try {
      mc.write(hpa, bytes, hw::Requester::host());
    } catch (const hw::HwError&) {
      result.blocked = true;  // the memory controller refused the host (isolate mode)
    }
  };
  switch (a.kind) {
    case Action::Kind::map: {
      const std::uint64_t hpa = frame_hpa(a.frame);
      result.status = status_of(psp.execute(psp::NptMap{slot.handle, gpa, hpa, 1, {}}));
      break;
    }
    case Action::Kind::unmap: {
      // The frame it unmaps, as the walker sees it, and the VM's epoch at the unmap.
      const auto walk = hw::npt::walk(mc, slot.root, gpa, hw::npt::Access::read);
      const auto info = psp.vm_info(slot.handle);
      result.status = status_of(psp.execute(psp::NptUnmap{slot.handle, gpa, 1}));
      if (*result.status == psp::Status::success && walk.ok() && info) {
        const std::uint64_t frame = walk.translation->hpa & ~(hw::kFrameSize - 1);
        if (mc.tag(frame).owner == slot.handle) {
          unmapped_.push_back(
              {frame, static_cast<std::size_t>(a.vm % vms_.size()), info->tlb_epoch});
        }
      }
      break;
    }
    case Action::Kind::track:
      result.status = status_of(psp.execute(psp::TlbTrack{slot.handle}));
      break;
    case Action::Kind::donate: {
      const std::uint64_t hpa = frame_hpa(a.frame);
      result.status = status_of(psp.execute(psp::NptDonate{slot.handle, {hpa}}));
      break;
    }
    case Action::Kind::stop:
      result.status = status_of(psp.execute(psp::VmStop{slot.handle}));
      break;
    case Action::Kind::decommission:
      result.status = status_of(psp.execute(psp::Decommission{slot.handle}));
      if (*result.status == psp::Status::success) slot.decommissioned = true;
      break;
    case Action::Kind::tamper_npt: {
      // Flip bit 12 of a root entry: the next table's address (or a non-present entry's
      // ignored bits), a change the stored characteristic value must reveal.
      const std::uint64_t entry_hpa = slot.root + (a.entry % 512) * 8;
      Bytes entry(8);
      mc.read(entry_hpa, entry, hw::Requester::host());
      entry[1] ^= 0x10;
      host_write(entry_hpa, entry);
      break;
    }
    case Action::Kind::write_frame: {
      const Bytes pattern{0xde, 0xad, 0xbe, 0xef, 0x5a, 0x5a, 0x5a, 0x5a};
      host_write(frame_hpa(a.frame) + (a.entry * 16u) % hw::kFrameSize, pattern);
      break;
    }
    case Action::Kind::tick:
      now_us_ += kCheckIntervalUs;
      (void)psp.advance_clock(now_us_);
      break;
  }
  return result;
}

}  // namespace cvmsim::lab::explore
