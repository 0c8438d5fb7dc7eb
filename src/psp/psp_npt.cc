// NPT_DONATE / NPT_MAP / NPT_UNMAP: the guarded nested page tables.
//
// validate -> check the chunks the update's walks read or write against the PSP's value ->
// act (every table write noted) -> store the new value. In `off` mode the VMM edits its
// tables itself and NPT_MAP/NPT_UNMAP are refused.
#include <algorithm>
#include <set>

#include "common/checked.h"
#include "hw/hw_error.h"
#include "hw/npt.h"
#include "hw/npt/range_walk.h"
#include "psp/psp.h"
#include "psp/status_detail.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

namespace npt = hw::npt;

const Bytes& zero_page() {
  static const Bytes zeros(hw::kFrameSize, 0);
  return zeros;
}

}  // namespace

bool Psp::awaits_flush(const Vm& vm, std::uint64_t entry) const {
  const hw::FrameTag tag = mc_.tag(entry & npt::kFrameMask);
  return (entry & npt::kShared) == 0 && tag.owner == vm.handle && tag.use == hw::FrameUse::guest;
}

void Psp::wire_guard(Vm& vm) {
  if (vm.guard) vm.guard->set_frame_source([this, &vm] { return take_merkle_frame(vm); });
}

std::optional<std::uint64_t> Psp::take_merkle_frame(Vm& vm) {
  if (vm.table_pool.empty()) return std::nullopt;
  const std::uint64_t frame = vm.table_pool.back();
  vm.table_pool.pop_back();
  // Write-blocked for everyone but the PSP in every guarded mode: the tree's nodes are
  // read back unverified, so the host must not be able to change them. Zeroed in place:
  // the PSP writes a node into it next.
  mc_.set_tag_zeroed(hw::PspPasskey{}, frame,
                     {0, vm.handle, hw::FrameUse::merkle, hw::FrameGuard::write_blocked}, 1,
                     hw::Zeroing::in_place);
  return frame;
}

std::uint64_t Psp::take_table_frame(Vm& vm) {
  const std::uint64_t frame = vm.table_pool.back();
  vm.table_pool.pop_back();
  // Pool frames are host-writable in detect mode until they become tables: zero again.
  mc_.write(frame, zero_page(), as_psp());
  if (vm.guard) vm.guard->add_table(mc_, frame);
  return frame;
}

std::vector<std::uint64_t> Psp::path_tables(const Vm& vm, std::uint64_t gpa) {
  return npt::path_tables(mc_, as_psp(), vm.npt_root, gpa);
}

std::optional<std::vector<std::uint64_t>> Psp::range_chunks(const Vm& vm, std::uint64_t gpa,
                                                            std::uint64_t pages) {
  // The guard's unit is the chunk: consecutive entries of one chunk are checked once.
  std::vector<std::uint64_t> chunks;
  try {
    npt::for_each_entry_read(mc_, as_psp(), vm.npt_root, gpa, gpa + pages * hw::kFrameSize,
                             [&chunks](std::uint64_t entry_hpa) {
                               const std::uint64_t chunk = entry_hpa & ~(kGuardChunkSize - 1);
                               if (chunks.empty() || chunks.back() != chunk)
                                 chunks.push_back(chunk);
                             });
  } catch (const hw::HwError&) {
    return std::nullopt;
  }
  return chunks;
}

bool Psp::guard_check(Vm& vm, std::uint64_t gpa, std::uint64_t pages) {
  if (!vm.guard) return true;
  const auto chunks = range_chunks(vm, gpa, pages);
  if (chunks && vm.guard->check_chunks(mc_, *chunks)) return true;
  vm.tampered = true;
  return false;
}

std::uint64_t Psp::missing_tables(const Vm& vm, std::uint64_t gpa, std::uint64_t pages) {
  // Tables change only every 512 pages, so look at each leaf table's range once.
  std::set<std::pair<int, std::uint64_t>> created;
  const std::uint64_t first = gpa >> 21;
  const std::uint64_t last = (gpa + (pages - 1) * hw::kFrameSize) >> 21;
  for (std::uint64_t leaf = first; leaf <= last; ++leaf) {
    const std::uint64_t at = leaf << 21;
    const std::size_t existing = path_tables(vm, at).size();  // 1..4
    for (int level = npt::kLevels - static_cast<int>(existing) - 1; level >= 0; --level) {
      created.insert({level, at >> (21 + 9 * level)});
    }
  }
  // The Merkle tree grows with the tables; its frames come from the same pool.
  return created.size() + (vm.guard ? vm.guard->frames_needed(created.size()) : 0);
}

void Psp::write_mapping(Vm& vm, std::uint64_t gpa, std::uint64_t entry) {
  npt::Editor::WriteObserver noted;
  if (vm.guard) noted = [&vm](std::uint64_t entry_hpa) { vm.guard->note_write(entry_hpa); };
  npt::Editor(mc_, as_psp())
      .map(
          vm.npt_root, gpa, entry, [this, &vm] { return take_table_frame(vm); }, noted);
}

Result Psp::check_install(Vm& vm, std::uint64_t gpa) {
  wire_guard(vm);
  if (!guard_check(vm, gpa, 1)) {
    return Result::failure(Status::npt_tampered, detail(TamperDetail::before_change));
  }
  if (missing_tables(vm, gpa, 1) > vm.table_pool.size()) {
    return Result::failure(Status::resource_exhausted, missing_tables(vm, gpa, 1));
  }
  return Result::success();
}

Psp::VmLookup Psp::find_guarded_vm(VmHandle handle) {
  VmLookup found = find_vm(handle, CommandClass::mapping);
  if (found.vm != nullptr && !found.vm->guarded()) {
    return {nullptr, Result::failure(Status::policy_violation, 0)};
  }
  return found;
}

Response Psp::handle(const NptDonate& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::donate);
  if (vm == nullptr) return {refusal, {}};
  std::set<std::uint64_t> distinct;
  for (std::uint64_t frame : c.frames) {
    if (const Result r = frame_available(frame); !r.ok()) return {r, {}};
    if (!distinct.insert(frame).second)
      return Response::refused(Status::frame_not_available, frame);
  }
  const hw::FrameGuard guard = vm->policy.guard == measure::GuardMode::isolate
                                   ? hw::FrameGuard::write_blocked
                                   : hw::FrameGuard::none;
  const hw::FrameTag pool_tag{0, vm->handle, hw::FrameUse::npt, guard};
  for (std::size_t i = 0; i < c.frames.size();) {
    // Scrub each run of consecutive frames at once. In place: pool frames become tables
    // and Merkle frames, which the PSP writes as soon as it takes them.
    std::size_t run = 1;
    while (i + run < c.frames.size() && c.frames[i + run] == c.frames[i] + run * hw::kFrameSize)
      ++run;
    for (std::size_t j = i; j < i + run; ++j) claim_frame(c.frames[j]);
    mc_.set_tag_zeroed(hw::PspPasskey{}, c.frames[i], pool_tag, run, hw::Zeroing::in_place);
    i += run;
  }
  vm->table_pool.insert(vm->table_pool.end(), c.frames.begin(), c.frames.end());
  wire_guard(*vm);
  return {Result::success(), {}};
}

Response Psp::handle(const NptMap& c) {
  const auto [vm, refusal] = find_guarded_vm(c.vm);
  if (vm == nullptr) return {refusal, {}};
  if (c.pages == 0 || c.pages > kMaxPagesPerMap)
    return Response::refused(Status::invalid_parameter, c.pages);
  const auto bytes = mul_checked<std::uint64_t>(c.pages, hw::kFrameSize);
  const auto gpa_end = bytes ? add_checked(c.gpa, *bytes) : std::nullopt;
  const auto hpa_end = bytes ? add_checked(c.hpa, *bytes) : std::nullopt;
  if (c.gpa % hw::kFrameSize != 0 || !gpa_end || *gpa_end > npt::kGpaLimit) {
    return Response::refused(Status::invalid_address, c.gpa);
  }
  if (c.hpa % hw::kFrameSize != 0 || !hpa_end)
    return Response::refused(Status::invalid_address, c.hpa);
  // Ownership: every frame must be free host memory (shared pages stay host memory, so
  // only they may be mapped twice), or unmapped earlier and flushed by every vCPU since.
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    if (const Result r = frame_available(c.hpa + i * hw::kFrameSize); !r.ok()) return {r, {}};
  }
  // Integrity: what this update's walks read must still be what the PSP wrote.
  if (!guard_check(*vm, c.gpa, c.pages)) {
    return Response::refused(Status::npt_tampered, detail(TamperDetail::before_change));
  }
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    const std::uint64_t gpa = c.gpa + i * hw::kFrameSize;
    if (npt::walk(mc_, vm->npt_root, gpa, npt::Access::read).ok()) {
      return Response::refused(Status::already_mapped, gpa);
    }
  }
  const std::uint64_t needed = missing_tables(*vm, c.gpa, c.pages);
  if (needed > vm->table_pool.size()) return Response::refused(Status::resource_exhausted, needed);

  std::uint64_t flags = npt::kPresent;
  if (c.permissions.writable) flags |= npt::kWritable;
  if (c.permissions.executable) flags |= npt::kExecutable;
  if (c.permissions.shared) flags |= npt::kShared;
  wire_guard(*vm);
  for (std::uint64_t i = 0; i < c.pages; ++i) claim_frame(c.hpa + i * hw::kFrameSize);
  if (!c.permissions.shared) {
    // Private pages start as zeros under the VM's key, whatever the VMM left in them.
    mc_.set_tag_zeroed(hw::PspPasskey{}, c.hpa,
                       {vm->key_asid(), vm->handle, hw::FrameUse::guest, hw::FrameGuard::none},
                       c.pages);
  }
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    write_mapping(*vm, c.gpa + i * hw::kFrameSize,
                  npt::make_entry(c.hpa + i * hw::kFrameSize, flags));
  }
  // One update of the stored value for the whole range.
  if (!vm->guard->commit(mc_)) {
    vm->tampered = true;
    return Response::refused(Status::npt_tampered, detail(TamperDetail::new_table_not_clean));
  }
  return {Result::success(), {}};
}

Response Psp::handle(const NptUnmap& c) {
  const auto [vm, refusal] = find_guarded_vm(c.vm);
  if (vm == nullptr) return {refusal, {}};
  if (c.pages == 0 || c.pages > kMaxPagesPerMap || c.gpa % hw::kFrameSize != 0) {
    return Response::refused(Status::invalid_parameter, c.pages);
  }
  const auto end = add_checked(c.gpa, c.pages * hw::kFrameSize);
  if (!end || *end > npt::kGpaLimit) return Response::refused(Status::invalid_address, c.gpa);
  if (!guard_check(*vm, c.gpa, c.pages)) {
    return Response::refused(Status::npt_tampered, detail(TamperDetail::before_change));
  }
  std::vector<std::uint64_t> entries;
  npt::Editor editor(mc_, as_psp());
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    const std::uint64_t gpa = c.gpa + i * hw::kFrameSize;
    const auto entry_hpa = editor.leaf_entry_address(vm->npt_root, gpa, nullptr);
    if (!entry_hpa || (editor.read_entry(*entry_hpa) & npt::kPresent) == 0) {
      return Response::refused(Status::not_mapped, gpa);
    }
    entries.push_back(*entry_hpa);
  }
  // A private frame stays the VM's until its vCPUs have flushed (TLB tracking); each
  // record is charged to the VM before anything changes. Shared frames were host memory
  // all along: a stale translation of one reaches nothing the host could not.
  std::vector<PrivateMemory::Allocation> charges;
  for (std::uint64_t entry_hpa : entries) {
    if (!awaits_flush(*vm, editor.read_entry(entry_hpa))) continue;
    if (!charge_awaiting_flush(*vm, charges.emplace_back())) {
      return Response::refused(Status::resource_exhausted, memory_.budget() - memory_.used());
    }
  }
  auto charge = charges.begin();
  for (std::uint64_t entry_hpa : entries) {
    const std::uint64_t entry = editor.read_entry(entry_hpa);
    editor.write_entry(entry_hpa, 0);
    vm->guard->note_write(entry_hpa);
    if (awaits_flush(*vm, entry)) await_flush(*vm, entry & npt::kFrameMask, std::move(*charge++));
  }
  if (!vm->guard->commit(mc_)) {
    vm->tampered = true;
    return Response::refused(Status::npt_tampered, detail(TamperDetail::new_table_not_clean));
  }
  return {Result::success(), {}};
}

}  // namespace cvmsim::psp
