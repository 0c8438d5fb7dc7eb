// The guest CPU's TLB: Unicorn memory regions over guest-physical addresses.
//
// A fill walks the NPT *as it is in memory now* and maps the translation, in one of three
// ways:
// - A *window*: when the page's frame may be used as it is (kept in the vCPU's key slot,
//   not guarded) and sits at the same offset of an aligned 2 MiB host run as the page in
//   its 2 MiB GPA block (the VMM's huge-page backing), the whole block becomes one Unicorn
//   region with no rights over that host run. Unicorn asks the *_PROT hooks on a page's
//   first load or fetch and on every store (Unicorn 2.0.1 sends every store down its slow
//   path), and window_allows() answers from per-page rights that fills record. Later
//   faults in the block cost no Unicorn region operation (10-16 us each: QEMU rebuilds its
//   flat view).
// - A *direct region* aliasing the frame's plaintext (uc_mem_map_ptr: loads, stores and
//   fetches run at full speed with no hook) for a usable frame elsewhere; neighbouring
//   pages of the same leaf table that map the following frames with the same rights join
//   the region.
// - A one-page *MMIO region* for any other frame (another VM's, an unkeyed frame behind a
//   private entry, a guarded frame), whose accesses go through the memory controller, so
//   the guest sees what the hardware would show: garbage, or a refusal. Instruction
//   fetches cannot be served from MMIO; they are refused (VmExit guest_fault) instead of
//   executing decrypted garbage.
// A block holds either one window or direct and MMIO regions: a fill that cannot use the
// window drops it first (Unicorn regions may not overlap), as a hardware TLB may evict.
//
// Regions stay, stale, until clear() (the TLB flush): NPT edits take effect when hardware
// would see them. Region operations grow with the number of regions (measured in
// docs/benchmarks.md, "Guest CPU"), so the map holds at most kMaxRegions; when full it
// drops its data regions (evict()), as a hardware TLB evicts.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hw/cpu/vcpu_binding.h"
#include "hw/npt/walker.h"

struct uc_struct;

namespace cvmsim::hw::cpu {

inline constexpr std::size_t kMaxRegions = 32;
inline constexpr std::uint64_t kMaxRunPages = 128;  // pages per direct region (512 KiB)
inline constexpr std::uint64_t kWindowSize = npt::kEntriesPerTable * kFrameSize;  // 2 MiB

struct RegionStats {
  std::uint64_t fills = 0;
  std::uint64_t direct_regions = 0;
  std::uint64_t direct_pages = 0;
  std::uint64_t mmio_pages = 0;
  std::uint64_t windows = 0;       // windows mapped (counted in direct_regions too)
  std::uint64_t window_pages = 0;  // pages given rights in a window (fills without a region op)
  std::uint64_t evictions = 0;     // times the map was full and started over
  std::uint64_t flushes = 0;
};

// One MMIO page: the frame behind it and how the vCPU reaches it.
struct MmioPage {
  void* owner = nullptr;  // the GuestCpu whose callbacks serve it
  std::uint64_t gpa = 0;
  std::uint64_t frame_hpa = 0;
  Requester who = Requester::host();
  bool writable = false;
};

class RegionMap {
 public:
  using MmioRead = std::uint64_t (*)(uc_struct*, std::uint64_t, unsigned, void*);
  using MmioWrite = void (*)(uc_struct*, std::uint64_t, unsigned, std::uint64_t, void*);

  RegionMap(uc_struct* uc, MemoryController& mc, const VcpuBinding& binding, void* owner,
            MmioRead mmio_read, MmioWrite mmio_write);
  RegionMap(const RegionMap&) = delete;
  RegionMap& operator=(const RegionMap&) = delete;

  enum class Outcome : std::uint8_t { mapped, fault, refused };
  struct Fill {
    Outcome outcome = Outcome::mapped;
    npt::Fault fault;    // Outcome::fault
    std::string detail;  // Outcome::refused
  };
  // A TLB miss at `gpa`: walks the NPT and maps what it finds.
  Fill fill(std::uint64_t gpa, npt::Access access);
  // For an access that Unicorn reports as a permission miss: whether `gpa` lies in a window
  // (nullopt: it does not) and, if so, whether the page's recorded rights allow `access`.
  // Called on every guest store to a window: one cached lookup.
  [[nodiscard]] std::optional<bool> window_allows(std::uint64_t gpa, npt::Access access);
  // Drops the region holding `gpa` (a whole window: its translated code goes with it).
  void drop(std::uint64_t gpa);
  void clear();  // the TLB flush
  // Code of `size` bytes at `gpa` is translated (a new translation block, or a fetch
  // that missed). Regions that code has been translated from are the ones whose code
  // external writes make stale.
  void note_code(std::uint64_t gpa, std::uint32_t size);
  // A write through the memory controller to [hpa, hpa + length): code translated from
  // direct regions over those frames must be dropped (take_stale_code()). Writes into
  // regions no code was translated from (DMA into data buffers, even where the NPT allows
  // execution) cost nothing.
  void note_external_write(std::uint64_t hpa, std::uint64_t length);
  // GPA ranges [first, second) whose translated code is stale, and forgets them.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> take_stale_code();

  [[nodiscard]] bool contains(std::uint64_t gpa) const;
  [[nodiscard]] const MmioPage* mmio_page(std::uint64_t gpa) const;
  [[nodiscard]] std::size_t size() const noexcept { return regions_.size(); }
  [[nodiscard]] const RegionStats& stats() const noexcept { return stats_; }

 private:
  // A window's per-page state. Rights are read (1), write (2) and execute (4) bits from
  // the page's last walk; 0 = not filled.
  struct Window {
    std::array<std::uint8_t, npt::kEntriesPerTable> rights{};
    std::array<bool, npt::kEntriesPerTable> code{};  // code was translated from the page
  };
  struct Region {
    std::uint64_t size = 0;
    std::unique_ptr<MmioPage> mmio;  // MMIO regions only
    std::unique_ptr<Window> window;  // windows only
    std::uint64_t hpa = 0;           // direct regions and windows: the first frame
    bool has_code = false;           // code was translated from it (note_code)
  };
  // Where translated code came from: a direct region's run, or one page of a window.
  struct CodeRun {
    std::uint64_t gpa = 0;
    std::uint64_t size = 0;
  };
  using Regions = std::map<std::uint64_t, Region>;  // by first GPA
  Regions::const_iterator find(std::uint64_t gpa) const;
  Window* window_at(std::uint64_t gpa);
  // The window for `gpa`'s block, mapped if need be; null when the block holds other
  // regions or Unicorn refuses.
  Window* window_for(std::uint64_t gpa, std::uint64_t frame_hpa, std::uint8_t* frame);
  void drop_window_of(std::uint64_t gpa);         // before a direct or MMIO region in its block
  Regions::iterator erase(Regions::iterator it);  // unmaps the region and forgets its code
  Fill map_direct(std::uint64_t gpa_page, const npt::Translation& t, std::uint8_t* frame,
                  Requester who);
  Fill map_mmio(std::uint64_t gpa_page, const npt::Translation& t, Requester who);
  void evict();  // the map is full

  uc_struct* uc_;
  MemoryController& mc_;
  VcpuBinding binding_;
  void* owner_;
  MmioRead mmio_read_;
  MmioWrite mmio_write_;
  Regions regions_;
  std::multimap<std::uint64_t, CodeRun> code_by_hpa_;  // first frame -> where code came from
  // The last window window_allows() found, by block: guest stores to a window ask on
  // every store.
  std::uint64_t cached_block_ = ~std::uint64_t{0};
  Window* cached_window_ = nullptr;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> stale_code_;
  RegionStats stats_;
};

}  // namespace cvmsim::hw::cpu
