#include "hw/cpu/region_map.h"

#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <algorithm>
#include <iterator>

#include "hw/host_memory.h"
#include "hw/hw_error.h"

namespace cvmsim::hw::cpu {
namespace {

constexpr std::uint64_t kPageMask = ~std::uint64_t{kFrameSize - 1};

// A window page's rights (Window::rights).
constexpr std::uint8_t kRightRead = 1;
constexpr std::uint8_t kRightWrite = 2;
constexpr std::uint8_t kRightExecute = 4;

std::uint8_t rights_of(const npt::Translation& t) {
  return static_cast<std::uint8_t>(kRightRead | (t.writable ? kRightWrite : 0) |
                                   (t.executable ? kRightExecute : 0));
}

std::uint8_t right_needed(npt::Access access) {
  switch (access) {
    case npt::Access::write:
      return kRightWrite;
    case npt::Access::execute:
      return kRightExecute;
    case npt::Access::read:
      break;
  }
  return kRightRead;
}

// A window maps a whole host-memory chunk: the congruent frames of a 2 MiB GPA block lie in
// one chunk, contiguous in the simulator's memory.
static_assert(kChunkSize == kWindowSize);

std::uint32_t prot_of(const npt::Translation& t) {
  std::uint32_t prot = UC_PROT_READ;
  if (t.writable) prot |= UC_PROT_WRITE;
  if (t.executable) prot |= UC_PROT_EXEC;
  return prot;
}

// Whether leaf entry `entry` continues a run: same rights, the expected frame.
bool continues(std::uint64_t entry, const npt::Translation& t, std::uint64_t expected_frame) {
  if ((entry & npt::kPresent) == 0 || (entry & npt::kReservedMask) != 0) return false;
  if ((entry & npt::kFrameMask) != expected_frame) return false;
  return ((entry & npt::kWritable) != 0) == t.writable &&
         ((entry & npt::kExecutable) != 0) == t.executable &&
         ((entry & npt::kShared) != 0) == t.shared;
}

}  // namespace

RegionMap::RegionMap(uc_struct* uc, MemoryController& mc, const VcpuBinding& binding, void* owner,
                     MmioRead mmio_read, MmioWrite mmio_write)
    : uc_(uc),
      mc_(mc),
      binding_(binding),
      owner_(owner),
      mmio_read_(mmio_read),
      mmio_write_(mmio_write) {}

RegionMap::Regions::const_iterator RegionMap::find(std::uint64_t gpa) const {
  auto it = regions_.upper_bound(gpa);
  if (it == regions_.begin()) return regions_.end();
  --it;
  return gpa - it->first < it->second.size ? it : regions_.end();
}

bool RegionMap::contains(std::uint64_t gpa) const {
  return find(gpa) != regions_.end();
}

const MmioPage* RegionMap::mmio_page(std::uint64_t gpa) const {
  const auto it = find(gpa);
  return it == regions_.end() ? nullptr : it->second.mmio.get();
}

RegionMap::Window* RegionMap::window_at(std::uint64_t gpa) {
  const std::uint64_t block = gpa / kWindowSize;
  if (block != cached_block_) {
    const auto it = regions_.find(block * kWindowSize);
    cached_window_ = it == regions_.end() ? nullptr : it->second.window.get();
    cached_block_ = block;
  }
  return cached_window_;
}

std::optional<bool> RegionMap::window_allows(std::uint64_t gpa, npt::Access access) {
  const Window* window = window_at(gpa);
  if (window == nullptr) return std::nullopt;
  return (window->rights[gpa % kWindowSize / kFrameSize] & right_needed(access)) != 0;
}

RegionMap::Window* RegionMap::window_for(std::uint64_t gpa, std::uint64_t frame_hpa,
                                         std::uint8_t* frame) {
  if (Window* window = window_at(gpa)) return window;
  const std::uint64_t block = gpa / kWindowSize * kWindowSize;
  // Regions never cross a block (direct runs stay inside their leaf table).
  const auto next = regions_.lower_bound(block);
  if (next != regions_.end() && next->first - block < kWindowSize) return nullptr;
  if (regions_.size() >= kMaxRegions) evict();
  std::uint8_t* host = frame - (gpa % kWindowSize / kFrameSize * kFrameSize);
  if (uc_mem_map_ptr(uc_, block, kWindowSize, UC_PROT_NONE, host) != UC_ERR_OK) return nullptr;
  auto window = std::make_unique<Window>();
  Window* raw = window.get();
  const std::uint64_t first_hpa = frame_hpa - frame_hpa % kWindowSize;
  regions_.emplace(block, Region{kWindowSize, nullptr, std::move(window), first_hpa, false});
  cached_block_ = block / kWindowSize;
  cached_window_ = raw;
  ++stats_.windows;
  ++stats_.direct_regions;
  return raw;
}

void RegionMap::drop_window_of(std::uint64_t gpa) {
  if (window_at(gpa) == nullptr) return;
  erase(regions_.find(gpa / kWindowSize * kWindowSize));
}

RegionMap::Fill RegionMap::fill(std::uint64_t gpa, npt::Access access) {
  ++stats_.fills;
  const npt::WalkResult walk = npt::walk(mc_, binding_.npt_root(), gpa, access);
  if (!walk.ok()) return {Outcome::fault, walk.fault, {}};
  const npt::Translation& t = *walk.translation;
  // A shared entry (the C-bit clear) makes the access use no key, as on SEV.
  const Requester who = t.shared ? binding_.requester().unkeyed() : binding_.requester();
  const std::uint64_t frame_hpa = t.hpa & kPageMask;
  std::uint8_t* frame = mc_.direct_frame(frame_hpa, who, t.writable);
  if (frame != nullptr && frame_hpa % kWindowSize == (gpa & kPageMask) % kWindowSize) {
    if (Window* window = window_for(gpa, frame_hpa, frame)) {
      window->rights[gpa % kWindowSize / kFrameSize] = rights_of(t);
      ++stats_.window_pages;
      return {};
    }
  }
  drop_window_of(gpa);  // the block's other regions cannot overlap it
  if (regions_.size() >= kMaxRegions) evict();
  if (frame != nullptr) return map_direct(gpa & kPageMask, t, frame, who);
  if (access == npt::Access::execute) {
    return {Outcome::refused,
            {},
            fmt::format("instruction fetch at GPA {:#x} from frame {:#x}, which is not kept "
                        "under this vCPU's key (another VM's, unencrypted behind a private "
                        "entry, or guarded): the hardware would fetch ciphertext",
                        gpa, frame_hpa)};
  }
  return map_mmio(gpa & kPageMask, t, who);
}

RegionMap::Fill RegionMap::map_direct(std::uint64_t gpa_page, const npt::Translation& t,
                                      std::uint8_t* frame, Requester who) {
  const std::uint64_t frame_hpa = t.hpa & kPageMask;
  std::uint64_t first = gpa_page;
  std::uint64_t last = gpa_page;  // inclusive
  // Grow over neighbours in the same leaf table: the following (and preceding) GPAs must
  // map the following (preceding) frames of the same host chunk, with the same rights.
  if (const auto leaf = npt::read_leaf_table(mc_, binding_.npt_root(), gpa_page)) {
    const std::size_t index = npt::index_at(gpa_page, 0);
    const auto usable = [&](std::uint64_t gpa, std::size_t i, std::uint64_t hpa) {
      return continues(leaf->entries[i], t, hpa) && !contains(gpa) &&
             mc_.direct_frame(hpa, who, t.writable) == frame + (hpa - frame_hpa);
    };
    for (std::size_t i = index + 1; i < npt::kEntriesPerTable; ++i) {
      const std::uint64_t hpa = frame_hpa + (i - index) * kFrameSize;
      if ((last - first) / kFrameSize + 1 >= kMaxRunPages ||
          hpa / kChunkSize != frame_hpa / kChunkSize || !usable(last + kFrameSize, i, hpa)) {
        break;
      }
      last += kFrameSize;
    }
    for (std::size_t i = index; i-- > 0;) {
      const std::uint64_t back = (index - i) * kFrameSize;
      if (back > frame_hpa) break;
      const std::uint64_t hpa = frame_hpa - back;
      if ((last - first) / kFrameSize + 1 >= kMaxRunPages ||
          hpa / kChunkSize != frame_hpa / kChunkSize || !usable(first - kFrameSize, i, hpa)) {
        break;
      }
      first -= kFrameSize;
    }
  }
  std::uint8_t* host = frame - (gpa_page - first);
  const std::uint64_t size = last - first + kFrameSize;
  const uc_err err = uc_mem_map_ptr(uc_, first, size, prot_of(t), host);
  if (err != UC_ERR_OK) {
    return {
        Outcome::refused,
        {},
        fmt::format("unicorn could not map GPA {:#x}+{:#x}: {}", first, size, uc_strerror(err))};
  }
  const std::uint64_t first_hpa = frame_hpa - (gpa_page - first);
  regions_.emplace(first, Region{size, nullptr, nullptr, first_hpa, false});
  ++stats_.direct_regions;
  stats_.direct_pages += size / kFrameSize;
  return {};
}

RegionMap::Fill RegionMap::map_mmio(std::uint64_t gpa_page, const npt::Translation& t,
                                    Requester who) {
  auto page =
      std::make_unique<MmioPage>(MmioPage{owner_, gpa_page, t.hpa & kPageMask, who, t.writable});
  const uc_err err =
      uc_mmio_map(uc_, gpa_page, kFrameSize, mmio_read_, page.get(), mmio_write_, page.get());
  if (err != UC_ERR_OK) {
    return {Outcome::refused,
            {},
            fmt::format("unicorn could not map MMIO page {:#x}: {}", gpa_page, uc_strerror(err))};
  }
  regions_.emplace(gpa_page, Region{kFrameSize, std::move(page), nullptr, 0, false});
  ++stats_.mmio_pages;
  return {};
}

RegionMap::Regions::iterator RegionMap::erase(Regions::iterator it) {
  uc_mem_unmap(uc_, it->first, it->second.size);
  const Region& region = it->second;
  const auto forget_code = [&](std::uint64_t hpa, std::uint64_t gpa) {
    const auto [first, last] = code_by_hpa_.equal_range(hpa);
    for (auto c = first; c != last; ++c) {
      if (c->second.gpa == gpa) {
        code_by_hpa_.erase(c);
        return;
      }
    }
  };
  if (region.window) {
    for (std::size_t page = 0; page < npt::kEntriesPerTable; ++page) {
      if (region.window->code[page]) {
        forget_code(region.hpa + page * kFrameSize, it->first + page * kFrameSize);
      }
    }
  } else if (region.has_code) {
    forget_code(region.hpa, it->first);
  }
  cached_block_ = ~std::uint64_t{0};
  return regions_.erase(it);
}

void RegionMap::drop(std::uint64_t gpa) {
  const auto it = find(gpa);
  if (it == regions_.end()) return;
  erase(regions_.find(it->first));
}

void RegionMap::clear() {
  for (const auto& [gpa, region] : regions_) uc_mem_unmap(uc_, gpa, region.size);
  regions_.clear();
  code_by_hpa_.clear();
  cached_block_ = ~std::uint64_t{0};
  ++stats_.flushes;
}

void RegionMap::evict() {
  ++stats_.evictions;
  // Regions holding translated code stay (the guest's hot code keeps its translations);
  // the data regions go.
  for (auto it = regions_.begin(); it != regions_.end();) {
    it = it->second.has_code ? std::next(it) : erase(it);
  }
  if (regions_.size() >= kMaxRegions / 2) {  // mostly code: start over
    clear();
    --stats_.flushes;
  }
}

void RegionMap::note_code(std::uint64_t gpa, std::uint32_t size) {
  // A block may cross into the next region or page (an instruction or a block spanning a
  // boundary): every region, and every window page, it overlaps has had bytes translated.
  const std::uint64_t last = gpa + (size == 0 ? 0 : size - 1);
  for (std::uint64_t at = gpa; at <= last;) {
    auto it = regions_.upper_bound(at);
    if (it == regions_.begin()) break;
    --it;
    Region& region = it->second;
    if (at - it->first >= region.size) break;  // not mapped (cannot run code)
    std::uint64_t end = it->first + region.size;
    if (region.window) {
      const std::uint64_t page = (at - it->first) / kFrameSize;
      if (!region.window->code[page]) {
        region.window->code[page] = true;
        code_by_hpa_.emplace(region.hpa + page * kFrameSize,
                             CodeRun{it->first + page * kFrameSize, kFrameSize});
      }
      region.has_code = true;
      end = it->first + (page + 1) * kFrameSize;
    } else if (region.mmio == nullptr && !region.has_code) {
      region.has_code = true;
      code_by_hpa_.emplace(region.hpa, CodeRun{it->first, region.size});
    }
    if (end == 0 || end > last) break;
    at = end;
  }
}

void RegionMap::note_external_write(std::uint64_t hpa, std::uint64_t length) {
  if (code_by_hpa_.empty() || length == 0) return;
  // Code runs that start at or before the last byte written.
  auto it = code_by_hpa_.upper_bound(hpa + (length - 1));
  while (it != code_by_hpa_.begin()) {
    --it;
    const CodeRun& run = it->second;
    const std::uint64_t run_end = it->first + run.size;
    if (run_end <= hpa) {
      // Runs are at most kMaxRunPages long: earlier ones cannot reach the write.
      if (hpa - run_end >= kMaxRunPages * kFrameSize) break;
      continue;
    }
    const std::uint64_t from = std::max(hpa, it->first);
    const std::uint64_t to = std::min(hpa + length, run_end);
    stale_code_.emplace_back(run.gpa + (from - it->first), run.gpa + (to - it->first));
  }
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> RegionMap::take_stale_code() {
  return std::exchange(stale_code_, {});
}

}  // namespace cvmsim::hw::cpu
