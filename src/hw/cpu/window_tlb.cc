#include "hw/cpu/window_tlb.h"

#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <algorithm>
#include <cstring>

#include "hw/cpu/unicorn_check.h"
#include "hw/host_memory.h"

namespace cvmsim::hw::cpu {
namespace {

constexpr std::uint64_t kPageMask = ~std::uint64_t{kFrameSize - 1};

// A block aliases one host-memory chunk: the congruent frames of a 2 MiB GPA block are one
// aligned run of host memory.
static_assert(kChunkSize == kBlockSize);

std::size_t page_in_block(std::uint64_t gpa) {
  return gpa % kBlockSize / kFrameSize;
}

}  // namespace

WindowTlb::WindowTlb(uc_struct* uc, MemoryController& mc, const VcpuBinding& binding)
    : uc_(uc),
      mc_(mc),
      binding_(binding),
      blocks_(kGuestWindowSize / kBlockSize),
      flush_page_(std::make_unique<std::array<std::uint8_t, kFrameSize>>()) {
  check_uc(uc_mem_map_ptr(uc_, 0, kGuestWindowSize, UC_PROT_NONE, window_.base()),
           "map the guest-physical window");
}

// Unicorn's regions go with the engine (uc_close); unmapping the window first would flush
// Unicorn's TLB once per page of it.
WindowTlb::~WindowTlb() = default;

const WindowTlb::Block* WindowTlb::block_at(std::uint64_t gpa) const {
  const auto* slot = blocks_.find(gpa / kBlockSize);
  return slot == nullptr ? nullptr : slot->get();
}

WindowTlb::Block& WindowTlb::block_for(std::uint64_t gpa) {
  auto& slot = blocks_.at(gpa / kBlockSize);
  if (!slot) slot = std::make_unique<Block>();
  return *slot;
}

WindowTlb::Hit WindowTlb::lookup(std::uint64_t gpa, npt::Access access) const {
  if (gpa >= kGuestWindowSize) return Hit::miss;
  const Block* block = block_at(gpa);
  if (block == nullptr) return Hit::miss;
  const std::uint8_t bits = block->pages[page_in_block(gpa)];
  const std::uint8_t needed = access == npt::Access::write     ? kWrite
                              : access == npt::Access::execute ? kExecute
                                                               : kRead;
  if ((bits & needed) == 0) return Hit::miss;
  return (bits & kForeign) != 0 ? Hit::foreign : Hit::direct;
}

std::uint64_t WindowTlb::aliased_frame(const Block& block, std::size_t page) {
  const auto it = block.exceptions.find(static_cast<std::uint16_t>(page));
  if (it != block.exceptions.end()) {
    return (block.pages[page] & kForeign) != 0 ? kNoRun : it->second.hpa;
  }
  return block.run_hpa == kNoRun ? kNoRun : block.run_hpa + page * kFrameSize;
}

WindowTlb::Fill WindowTlb::fill(std::uint64_t gpa, npt::Access access) {
  ++stats_.fills;
  if (gpa >= kGuestWindowSize) {
    return {Outcome::refused,
            {},
            fmt::format("GPA {:#x} is beyond the {:#x}-byte guest-physical window", gpa,
                        kGuestWindowSize)};
  }
  // Walk.
  const npt::WalkResult walk = npt::walk(mc_, binding_.npt_root(), gpa, access);
  if (!walk.ok()) return {Outcome::fault, walk.fault, {}};
  const npt::Translation& t = *walk.translation;
  // Key: a shared entry (the C-bit clear) makes the access use no key, as on SEV; the
  // frame's tag says whether its stored bytes are what this vCPU reads and writes.
  const Requester who = t.shared ? binding_.requester().unkeyed() : binding_.requester();
  const std::uint64_t frame_hpa = t.hpa & kPageMask;
  const bool direct = mc_.direct_frame(frame_hpa, who, t.writable) != nullptr;
  // Map.
  const std::uint64_t page_gpa = gpa & kPageMask;
  Block& block = block_for(page_gpa);
  std::uint8_t rights = kRead;
  if (t.writable) rights |= kWrite;
  if (direct) {
    if (t.executable) rights |= kExecute;
    if (!alias_frame(block, page_gpa, frame_hpa)) {
      return {
          Outcome::refused,
          {},
          fmt::format("the host refused to alias frame {:#x} at GPA {:#x}", frame_hpa, page_gpa)};
    }
    window_.prefault(page_gpa, kFrameSize, t.writable);
  } else {
    if (access == npt::Access::execute) {
      return {Outcome::refused,
              {},
              fmt::format("instruction fetch at GPA {:#x} from frame {:#x}, which is not kept "
                          "under this vCPU's key (another VM's, unencrypted behind a private "
                          "entry, or guarded): the hardware would fetch ciphertext",
                          gpa, frame_hpa)};
    }
    try {
      if (!alias_foreign(block, page_gpa, frame_hpa, who)) {
        return {
            Outcome::refused, {}, fmt::format("the host refused a page for GPA {:#x}", page_gpa)};
      }
    } catch (const std::exception& e) {  // e.g. a PSP-private frame refuses the read
      return {Outcome::refused, {}, e.what()};
    }
    rights |= kForeign;
  }
  give_rights(block, page_gpa, rights);
  return {};
}

void WindowTlb::give_rights(Block& block, std::uint64_t gpa, std::uint8_t rights) {
  std::uint8_t& bits = block.pages[page_in_block(gpa)];
  const bool was_foreign = (bits & kForeign) != 0 && (bits & kRights) != 0;
  bits = static_cast<std::uint8_t>((bits & kCode) | rights);
  if ((rights & kForeign) != 0 && !was_foreign) foreign_pages_.push_back(gpa);
  if (!block.has_rights) {
    block.has_rights = true;
    with_rights_.push_back(gpa / kBlockSize * kBlockSize);
  }
}

bool WindowTlb::alias_frame(Block& block, std::uint64_t page_gpa, std::uint64_t frame_hpa) {
  const std::size_t page = page_in_block(page_gpa);
  if (aliased_frame(block, page) == frame_hpa) return true;  // the usual case: no syscall
  // The page shows another frame from now on: code translated from the old one must go.
  if ((block.pages[page] & kCode) != 0) drop_code(page_gpa);
  const std::uint64_t block_gpa = page_gpa - page * kFrameSize;
  const bool congruent = frame_hpa % kBlockSize == page_gpa % kBlockSize;
  const std::uint64_t run = frame_hpa - frame_hpa % kBlockSize;
  const int fd = mc_.memory().fd();
  if (congruent && block.run_hpa == kNoRun) {
    // The block's first frame of the VMM's huge-page backing: alias the whole run, then
    // put back the pages that show something else.
    if (!window_.alias(block_gpa, kBlockSize, fd, run)) return false;
    block.run_hpa = run;
    blocks_by_run_.emplace(run, block_gpa);
    ++stats_.blocks_aliased;
    forget_exception(block, page_gpa, page);
    for (const auto& [other, alias] : block.exceptions) {
      const std::uint64_t other_gpa = block_gpa + std::uint64_t{other} * kFrameSize;
      const bool ok = (block.pages[other] & kForeign) != 0
                          ? window_.own_pages(other_gpa, kFrameSize)
                          : window_.alias(other_gpa, kFrameSize, fd, alias.hpa);
      if (!ok) return false;
      // A foreign page's view is recomputed before the vCPU resumes; until then it has no
      // rights.
      if ((block.pages[other] & kForeign) != 0)
        block.pages[other] &= static_cast<std::uint8_t>(~kRights);
    }
    return true;
  }
  if (!window_.alias(page_gpa, kFrameSize, fd, frame_hpa)) return false;
  forget_exception(block, page_gpa, page);
  if (!(congruent && block.run_hpa == run)) {
    block.exceptions.insert_or_assign(static_cast<std::uint16_t>(page),
                                      PageAlias{frame_hpa, Requester::host()});
    exceptions_by_frame_.emplace(frame_hpa, page_gpa);
  }
  block.pages[page] &= static_cast<std::uint8_t>(~kForeign);
  ++stats_.pages_aliased;
  return true;
}

bool WindowTlb::alias_foreign(Block& block, std::uint64_t page_gpa, std::uint64_t frame_hpa,
                              Requester who) {
  const std::size_t page = page_in_block(page_gpa);
  Bytes view(kFrameSize);
  mc_.read(frame_hpa, view, who);  // throws when the frame's guard refuses this vCPU
  if ((block.pages[page] & kCode) != 0) drop_code(page_gpa);
  if (!window_.own_pages(page_gpa, kFrameSize)) return false;
  std::memcpy(window_.base() + page_gpa, view.data(), kFrameSize);
  forget_exception(block, page_gpa, page);
  block.exceptions.insert_or_assign(static_cast<std::uint16_t>(page), PageAlias{frame_hpa, who});
  exceptions_by_frame_.emplace(frame_hpa, page_gpa);
  block.pages[page] |= kForeign;
  ++stats_.foreign_pages;
  return true;
}

void WindowTlb::forget_exception(Block& block, std::uint64_t page_gpa, std::size_t page) {
  const auto it = block.exceptions.find(static_cast<std::uint16_t>(page));
  if (it == block.exceptions.end()) return;
  const auto [first, last] = exceptions_by_frame_.equal_range(it->second.hpa);
  for (auto e = first; e != last; ++e) {
    if (e->second == page_gpa) {
      exceptions_by_frame_.erase(e);
      break;
    }
  }
  block.exceptions.erase(it);
}

void WindowTlb::store_foreign(std::uint64_t gpa, unsigned size, std::uint64_t value) {
  const Block* block = block_at(gpa);
  const auto it = block->exceptions.find(static_cast<std::uint16_t>(page_in_block(gpa)));
  std::array<std::uint8_t, 8> bytes{};
  const unsigned n = std::min(size, 8u);
  for (unsigned i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
  const std::uint64_t offset = gpa % kFrameSize;
  // The store itself then lands in the window page, which keeps the view exact: this
  // vCPU reads back through its own key what it wrote through it.
  mc_.write(it->second.hpa + offset,
            {bytes.data(), std::min<std::uint64_t>(n, kFrameSize - offset)}, it->second.who);
}

void WindowTlb::refresh_foreign_views() {
  std::erase_if(foreign_pages_, [this](std::uint64_t gpa) {
    Block& block = block_for(gpa);
    const std::size_t page = page_in_block(gpa);
    if ((block.pages[page] & kForeign) == 0 || (block.pages[page] & kRights) == 0) return true;
    const PageAlias& alias = block.exceptions.at(static_cast<std::uint16_t>(page));
    try {
      mc_.read(alias.hpa, {window_.base() + gpa, kFrameSize}, alias.who);
    } catch (const std::exception&) {  // the frame is guarded now: re-walk on next use
      revoked_.push_back(gpa);
      return true;
    }
    return false;
  });
}

void WindowTlb::drop_code(std::uint64_t page_gpa) {
  // Unicorn keys translated code by guest-physical address within the window, so code
  // translated from the frame the page showed before would run again: invalidate it.
  uc_ctl_remove_cache(uc_, page_gpa, page_gpa + kFrameSize);
  block_for(page_gpa).pages[page_in_block(page_gpa)] &= static_cast<std::uint8_t>(~kCode);
  std::erase(code_pages_, page_gpa);
  ++stats_.code_drops;
}

void WindowTlb::flush_unicorn_tlb() {
  // Unicorn 2.0.1 has no call that flushes its TLB, but mapping a region flushes it whole.
  // The page lies just past the window and is unmapped at once.
  uc_mem_map_ptr(uc_, kGuestWindowSize, kFrameSize, UC_PROT_NONE, flush_page_->data());
  uc_mem_unmap(uc_, kGuestWindowSize, kFrameSize);
}

bool WindowTlb::clear() {
  for (const std::uint64_t block_gpa : with_rights_) {
    Block& block = block_for(block_gpa);
    for (std::uint8_t& bits : block.pages) bits &= static_cast<std::uint8_t>(~kRights);
    block.has_rights = false;
  }
  with_rights_.clear();
  foreign_pages_.clear();
  revoked_.clear();
  // Translated code does not ask for rights again (Unicorn looks it up by address): drop
  // it, so that the next fetch of each page is a miss that re-walks.
  const bool code_dropped = !code_pages_.empty();
  for (const std::uint64_t page_gpa : std::vector<std::uint64_t>(code_pages_)) {
    drop_code(page_gpa);
    --stats_.code_drops;  // a flush, not a rewrite
  }
  stale_code_.clear();
  flush_unicorn_tlb();
  ++stats_.flushes;
  return code_dropped;
}

void WindowTlb::note_code(std::uint64_t gpa, std::uint32_t size) {
  // A block may cross into the next page: every page its bytes overlap has had code
  // translated from it.
  const std::uint64_t last = gpa + (size == 0 ? 0 : size - 1);
  for (std::uint64_t page_gpa = gpa & kPageMask; page_gpa <= last && page_gpa < kGuestWindowSize;
       page_gpa += kFrameSize) {
    std::uint8_t& bits = block_for(page_gpa).pages[page_in_block(page_gpa)];
    if ((bits & kCode) == 0) {
      bits |= kCode;
      code_pages_.push_back(page_gpa);
    }
  }
}

void WindowTlb::note_external_write(std::uint64_t hpa, std::uint64_t length) {
  if (code_pages_.empty() || length == 0) return;
  const std::uint64_t first = hpa & kPageMask;
  const std::uint64_t end = hpa + length;
  for (const std::uint64_t page_gpa : code_pages_) {
    const Block* block = block_at(page_gpa);
    const std::uint64_t frame = aliased_frame(*block, page_in_block(page_gpa));
    if (frame != kNoRun && frame >= first && frame < end) stale_code_.push_back(page_gpa);
  }
}

void WindowTlb::note_retag(std::uint64_t hpa, std::uint64_t length) {
  if (with_rights_.empty() || length == 0) return;
  const std::uint64_t first = hpa & kPageMask;
  const std::uint64_t end = hpa + length;
  const auto revoke_if_cached = [&](std::uint64_t page_gpa) {
    const Block* block = block_at(page_gpa);
    const std::size_t page = page_in_block(page_gpa);
    if (block != nullptr && (block->pages[page] & kRights) != 0 &&
        (block->pages[page] & kForeign) == 0 && aliased_frame(*block, page) != kNoRun) {
      revoked_.push_back(page_gpa);
    }
  };
  for (std::uint64_t frame = first; frame < end; frame += kFrameSize) {
    const auto [runs_first, runs_last] = blocks_by_run_.equal_range(frame - frame % kBlockSize);
    for (auto it = runs_first; it != runs_last; ++it) {
      const std::uint64_t page_gpa = it->second + frame % kBlockSize;
      if (aliased_frame(*block_at(page_gpa), page_in_block(page_gpa)) == frame) {
        revoke_if_cached(page_gpa);
      }
    }
    const auto [pages_first, pages_last] = exceptions_by_frame_.equal_range(frame);
    for (auto it = pages_first; it != pages_last; ++it) revoke_if_cached(it->second);
  }
}

bool WindowTlb::apply_pending() {
  bool code_dropped = false;
  if (!revoked_.empty()) {
    for (const std::uint64_t page_gpa : revoked_) {
      std::uint8_t& bits = block_for(page_gpa).pages[page_in_block(page_gpa)];
      bits &= static_cast<std::uint8_t>(~kRights);
      if ((bits & kCode) != 0) {
        drop_code(page_gpa);
        code_dropped = true;
      }
      ++stats_.revocations;
    }
    revoked_.clear();
    flush_unicorn_tlb();
  }
  for (const std::uint64_t page_gpa : stale_code_) {
    if ((block_for(page_gpa).pages[page_in_block(page_gpa)] & kCode) == 0) continue;
    drop_code(page_gpa);
    code_dropped = true;
  }
  stale_code_.clear();
  return code_dropped;
}

}  // namespace cvmsim::hw::cpu
