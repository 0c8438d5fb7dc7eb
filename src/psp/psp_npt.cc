// NPT_DONATE / NPT_MAP / NPT_UNMAP: the guarded nested page tables.
//
// validate -> check the table against the PSP's value -> act -> store the new value. In
// `off` mode the VMM edits its tables itself and NPT_MAP/NPT_UNMAP are refused.
#include <set>

#include "common/checked.h"
#include "hw/npt.h"
#include "psp/psp.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

namespace npt = hw::npt;

Response fail(Status s, std::uint64_t detail = 0) { return {Result::failure(s, detail), {}}; }


}  // namespace

std::uint64_t Psp::take_table_frame(Vm& vm) {
  const std::uint64_t frame = vm.table_pool.back();
  vm.table_pool.pop_back();
  if (vm.guard) vm.guard->add_table(mc_, frame);
  return frame;
}

std::vector<std::uint64_t> Psp::path_tables(const Vm& vm, std::uint64_t gpa) {
  std::vector<std::uint64_t> tables{vm.npt_root};
  std::uint64_t table = vm.npt_root;
  for (int level = npt::kLevels - 1; level > 0; --level) {
    const std::uint64_t entry = npt::Editor(mc_, as_psp()).read_entry(table + 8 * npt::index_at(gpa, level));
    if ((entry & npt::kPresent) == 0) break;
    table = entry & npt::kFrameMask;
    tables.push_back(table);
  }
  return tables;
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
  return created.size();
}

Result Psp::install(Vm& vm, std::uint64_t gpa, std::uint64_t hpa, std::uint64_t flags) {
  npt::Editor editor(mc_, as_psp());
  const npt::Editor::TableAllocator allocate = [this, &vm] {
    const std::uint64_t frame = take_table_frame(vm);
    return frame;
  };
  const auto entry_hpa = editor.leaf_entry_address(vm.npt_root, gpa, &allocate);
  if (!entry_hpa) return Result::failure(Status::resource_exhausted, 1);
  editor.write_entry(*entry_hpa, npt::make_entry(hpa, flags));
  return Result::success();
}

Result Psp::check_guarded_mapping(const Vm* vm, VmHandle handle) const {
  if (vm == nullptr) return Result::failure(Status::invalid_vm, handle);
  if (vm->state == VmState::stopped) {
    return Result::failure(Status::vm_stopped, static_cast<std::uint64_t>(vm->stop_reason));
  }
  if (!allowed(vm->state, CommandClass::mapping)) {
    return Result::failure(Status::invalid_state, static_cast<std::uint64_t>(vm->state));
  }
  if (!vm->guarded()) return Result::failure(Status::policy_violation, 0);
  return Result::success();
}

std::vector<std::uint64_t> Psp::range_tables(const Vm& vm, std::uint64_t gpa,
                                             std::uint64_t pages) {
  // A leaf table covers 512 pages, so stepping by 512 (plus the last page) meets them all.
  std::set<std::uint64_t> tables;
  for (std::uint64_t i = 0; i < pages; i += 512) {
    for (std::uint64_t t : path_tables(vm, gpa + i * hw::kFrameSize)) tables.insert(t);
  }
  for (std::uint64_t t : path_tables(vm, gpa + (pages - 1) * hw::kFrameSize)) tables.insert(t);
  return {tables.begin(), tables.end()};
}

Response Psp::handle(const NptDonate& c) {
  Vm* vm = find(c.vm);
  if (vm == nullptr) return fail(Status::invalid_vm, c.vm);
  if (vm->state == VmState::stopped || vm->state == VmState::refused) {
    return fail(Status::vm_stopped, static_cast<std::uint64_t>(vm->stop_reason));
  }
  std::set<std::uint64_t> distinct;
  for (std::uint64_t frame : c.frames) {
    if (!frame_is_free(frame) || !distinct.insert(frame).second) {
      return fail(Status::frame_not_available, frame);
    }
  }
  const hw::FrameGuard guard = vm->policy.guard == measure::GuardMode::isolate
                                   ? hw::FrameGuard::write_blocked
                                   : hw::FrameGuard::none;
  for (std::uint64_t frame : c.frames) {
    mc_.set_tag(hw::PspPasskey{}, frame, {0, vm->handle, hw::FrameUse::npt, guard});
    mc_.write(frame, Bytes(hw::kFrameSize, 0), as_psp());
    vm->table_pool.push_back(frame);
  }
  return {Result::success(), {}};
}

Response Psp::handle(const NptMap& c) {
  Vm* vm = find(c.vm);
  if (const Result r = check_guarded_mapping(vm, c.vm); !r.ok()) return {r, {}};
  if (c.pages == 0 || c.pages > kMaxPagesPerMap) return fail(Status::invalid_parameter, c.pages);
  const auto bytes = mul_checked<std::uint64_t>(c.pages, hw::kFrameSize);
  const auto gpa_end = bytes ? add_checked(c.gpa, *bytes) : std::nullopt;
  const auto hpa_end = bytes ? add_checked(c.hpa, *bytes) : std::nullopt;
  if (c.gpa % hw::kFrameSize != 0 || !gpa_end || *gpa_end > npt::kGpaLimit) {
    return fail(Status::invalid_address, c.gpa);
  }
  if (c.hpa % hw::kFrameSize != 0 || !hpa_end) return fail(Status::invalid_address, c.hpa);
  // Ownership: every frame must be free host memory (shared pages stay host memory).
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    const std::uint64_t frame = c.hpa + i * hw::kFrameSize;
    if (!frame_is_free(frame)) return fail(Status::frame_not_available, frame);
  }
  // Integrity: the tables this update walks must still be what the PSP wrote.
  const std::vector<std::uint64_t> pages = range_tables(*vm, c.gpa, c.pages);
  if (!vm->guard->check_pages(mc_, pages)) {
    vm->tampered = true;
    return fail(Status::npt_tampered, pages.size());
  }
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    const std::uint64_t gpa = c.gpa + i * hw::kFrameSize;
    if (npt::walk(mc_, vm->npt_root, gpa, npt::Access::read).ok()) {
      return fail(Status::already_mapped, gpa);
    }
  }
  const std::uint64_t needed = missing_tables(*vm, c.gpa, c.pages);
  if (needed > vm->table_pool.size()) return fail(Status::resource_exhausted, needed);

  std::uint64_t flags = npt::kPresent;
  if (c.permissions.writable) flags |= npt::kWritable;
  if (c.permissions.executable) flags |= npt::kExecutable;
  if (c.permissions.shared) flags |= npt::kShared;
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    const std::uint64_t frame = c.hpa + i * hw::kFrameSize;
    if (!c.permissions.shared) {
      // A private page starts as zeros under the VM's key, whatever the VMM left in it.
      mc_.set_tag(hw::PspPasskey{}, frame,
                  {vm->key_asid(), vm->handle, hw::FrameUse::guest, hw::FrameGuard::none});
      mc_.write(frame, Bytes(hw::kFrameSize, 0), as_psp(vm->key_asid()));
    }
    const Result r = install(*vm, c.gpa + i * hw::kFrameSize, frame, flags);
    if (!r.ok()) return {r, {}};
  }
  // One update of the stored value for the whole range: every table the range walks.
  vm->guard->update_pages(mc_, range_tables(*vm, c.gpa, c.pages));
  return {Result::success(), {}};
}

Response Psp::handle(const NptUnmap& c) {
  Vm* vm = find(c.vm);
  if (const Result r = check_guarded_mapping(vm, c.vm); !r.ok()) return {r, {}};
  if (c.pages == 0 || c.pages > kMaxPagesPerMap || c.gpa % hw::kFrameSize != 0) {
    return fail(Status::invalid_parameter, c.pages);
  }
  const auto end = add_checked(c.gpa, c.pages * hw::kFrameSize);
  if (!end || *end > npt::kGpaLimit) return fail(Status::invalid_address, c.gpa);
  std::vector<std::uint64_t> entries;
  npt::Editor editor(mc_, as_psp());
  for (std::uint64_t i = 0; i < c.pages; ++i) {
    const std::uint64_t gpa = c.gpa + i * hw::kFrameSize;
    const auto entry_hpa = editor.leaf_entry_address(vm->npt_root, gpa, nullptr);
    if (!entry_hpa || (editor.read_entry(*entry_hpa) & npt::kPresent) == 0) {
      return fail(Status::not_mapped, gpa);
    }
    entries.push_back(*entry_hpa);
  }
  const std::vector<std::uint64_t> pages = range_tables(*vm, c.gpa, c.pages);
  if (!vm->guard->check_pages(mc_, pages)) {
    vm->tampered = true;
    return fail(Status::npt_tampered, pages.size());
  }
  for (std::uint64_t entry_hpa : entries) {
    const std::uint64_t entry = editor.read_entry(entry_hpa);
    editor.write_entry(entry_hpa, 0);
    const std::uint64_t frame = entry & npt::kFrameMask;
    // The frame returns to the VMM only scrubbed (shared frames were host memory all along).
    if ((entry & npt::kShared) == 0 && mc_.tag(frame).owner == vm->handle) scrub_frame(frame);
  }
  vm->guard->update_pages(mc_, pages);
  return {Result::success(), {}};
}

}  // namespace cvmsim::psp
