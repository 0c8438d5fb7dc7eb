// The guest CPU's TLB over its guest-physical window (hw/cpu/guest_window.h).
//
// Unicorn sees the whole window as one region without rights. It asks the *_PROT hooks
// on a page's first load or fetch (its own TLB entries are per page) and on every store
// (Unicorn 2.0.1 sends every store down its slow path), and this TLB answers from
// per-page rights that fills record from the NPT walk. A page without the rights is a
// miss: fill() walks the NPT *as it is in memory now*, decides from the frame's tag how
// the vCPU reaches the frame, and maps it, once each and in that order:
// - a frame the vCPU may use as it is (kept in its key slot, not guarded) is aliased into
//   the window at the page's GPA: the whole 2 MiB block at once when the frame sits at the
//   page's offset of an aligned 2 MiB host run (the VMM's huge-page backing), else the one
//   page; loads, stores and fetches then touch its plaintext with no conversion;
// - any other frame (another VM's, unkeyed behind a private entry, write-blocked) is
//   *foreign*: the window page holds the vCPU's view of it, computed through the memory
//   controller (its DRAM decrypted with the vCPU's key), and stores to it go through the
//   controller too. Instruction fetches from foreign frames are refused (a guest fault)
//   instead of executing decrypted garbage.
// No fill costs a Unicorn region operation, so a fault costs the same whatever memory the
// guest has touched.
//
// Rights stay, stale, until clear() (the TLB flush): NPT edits take effect when hardware
// would see them. Two events end a cached translation early, each at the next point the
// vCPU resumes (apply_pending()): a frame it aliases is re-tagged (unmapped and scrubbed,
// handed to another VM, re-keyed), after which the alias would show another owner's
// plaintext, so the page is dropped and re-walked; and bytes code was translated from are
// written through the memory controller, so that code is re-translated (a VM exit is
// serialising).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "hw/cpu/guest_window.h"
#include "hw/cpu/vcpu_binding.h"
#include "hw/npt/walker.h"
#include "hw/sparse_table.h"

struct uc_struct;

namespace cvmsim::hw::cpu {

inline constexpr std::uint64_t kBlockSize = npt::kEntriesPerTable * kFrameSize;  // 2 MiB

struct TlbStats {
  std::uint64_t fills = 0;           // misses served from the NPT
  std::uint64_t blocks_aliased = 0;  // 2 MiB blocks aliased to a host run in one mmap
  std::uint64_t pages_aliased = 0;   // single pages aliased (a frame off its block's run)
  std::uint64_t foreign_pages = 0;   // pages reached through the memory controller
  std::uint64_t flushes = 0;
  std::uint64_t code_drops = 0;   // translated code dropped: its bytes were written
  std::uint64_t revocations = 0;  // cached pages dropped because their frame was re-tagged
};

class WindowTlb {
 public:
  WindowTlb(uc_struct* uc, MemoryController& mc, const VcpuBinding& binding);
  WindowTlb(const WindowTlb&) = delete;
  WindowTlb& operator=(const WindowTlb&) = delete;
  ~WindowTlb();

  enum class Outcome : std::uint8_t { mapped, fault, refused };
  struct Fill {
    Outcome outcome = Outcome::mapped;
    npt::Fault fault;    // Outcome::fault
    std::string detail;  // Outcome::refused
  };
  // A miss at `gpa`: walks the NPT and maps what it finds.
  Fill fill(std::uint64_t gpa, npt::Access access);

  enum class Hit : std::uint8_t { miss, direct, foreign };
  // Whether the page's recorded rights allow `access`, and how the page is reached.
  // Called on every guest store: one table look-up.
  [[nodiscard]] Hit lookup(std::uint64_t gpa, npt::Access access) const;
  // A store of `size` bytes (at most 8) of `value` to a foreign page whose rights allow
  // it, through the memory controller. Throws what the controller throws (a guard).
  void store_foreign(std::uint64_t gpa, unsigned size, std::uint64_t value);

  // The TLB flush. Returns whether translated code was dropped.
  bool clear();
  // Code of `size` bytes at `gpa` is being translated.
  void note_code(std::uint64_t gpa, std::uint32_t size);
  // A write through the memory controller to [hpa, hpa + length).
  void note_external_write(std::uint64_t hpa, std::uint64_t length);
  // Frames [hpa, hpa + length) were re-tagged.
  void note_retag(std::uint64_t hpa, std::uint64_t length);
  // Recomputes the foreign pages' views from DRAM: others may have written those frames
  // while the vCPU was suspended. Call before the vCPU resumes.
  void refresh_foreign_views();
  // Applies what the notes above found; call on the vCPU's own stack before it goes on.
  // Returns whether translated code was dropped.
  bool apply_pending();

  [[nodiscard]] const TlbStats& stats() const noexcept { return stats_; }

 private:
  // Page bits: the rights from the page's last walk, and what the page holds.
  static constexpr std::uint8_t kRead = 1;
  static constexpr std::uint8_t kWrite = 2;
  static constexpr std::uint8_t kExecute = 4;
  static constexpr std::uint8_t kRights = kRead | kWrite | kExecute;
  static constexpr std::uint8_t kCode = 8;      // code was translated from the page
  static constexpr std::uint8_t kForeign = 16;  // reached through the memory controller
  static constexpr std::uint64_t kNoRun = ~std::uint64_t{0};

  // A page aliased somewhere other than its block's run, or foreign.
  struct PageAlias {
    std::uint64_t hpa = 0;
    Requester who = Requester::host();
  };
  struct Block {
    std::array<std::uint8_t, npt::kEntriesPerTable> pages{};
    std::uint64_t run_hpa = kNoRun;  // the host run aliased over the whole block
    std::map<std::uint16_t, PageAlias> exceptions;
    bool has_rights = false;  // listed in with_rights_
  };

  [[nodiscard]] const Block* block_at(std::uint64_t gpa) const;
  Block& block_for(std::uint64_t gpa);
  // The frame the window page at `gpa` currently aliases (kNoRun: none, or foreign).
  [[nodiscard]] static std::uint64_t aliased_frame(const Block& block, std::size_t page);
  // Makes the window page at `page_gpa` alias `frame_hpa`. False when the kernel refuses.
  bool alias_frame(Block& block, std::uint64_t page_gpa, std::uint64_t frame_hpa);
  // Makes the window page at `page_gpa` the vCPU's view of foreign frame `frame_hpa`.
  // Throws what the memory controller throws.
  bool alias_foreign(Block& block, std::uint64_t page_gpa, std::uint64_t frame_hpa, Requester who);
  void forget_exception(Block& block, std::uint64_t page_gpa, std::size_t page);
  void give_rights(Block& block, std::uint64_t gpa, std::uint8_t rights);
  void drop_code(std::uint64_t page_gpa);  // Unicorn forgets code translated from the page
  void flush_unicorn_tlb();

  uc_struct* uc_;
  MemoryController& mc_;
  VcpuBinding binding_;
  GuestWindow window_;
  SparseTable<std::unique_ptr<Block>> blocks_;  // by GPA block number
  std::vector<std::uint64_t> with_rights_;      // blocks holding rights since the last clear
  std::unordered_multimap<std::uint64_t, std::uint64_t> blocks_by_run_;  // run -> block GPA
  std::multimap<std::uint64_t, std::uint64_t> exceptions_by_frame_;      // frame -> page GPA
  std::vector<std::uint64_t> code_pages_;                                // pages with kCode
  std::vector<std::uint64_t> foreign_pages_;  // pages with kForeign and rights
  std::vector<std::uint64_t> revoked_;        // pages to drop (apply_pending)
  std::vector<std::uint64_t> stale_code_;     // code pages whose bytes were written
  // A page Unicorn maps and unmaps to flush its TLB (mapping a region flushes it whole).
  std::unique_ptr<std::array<std::uint8_t, kFrameSize>> flush_page_;
  TlbStats stats_;
};

}  // namespace cvmsim::hw::cpu
