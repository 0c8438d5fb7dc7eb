// The NPT guard's characteristic value ("npt digest") over a VM's table pages.
//
//   full:   H(0x02 || hpa_0 || page_0 || hpa_1 || page_1 || ...) over every table page in
//           the order the PSP installed them; recomputed whole for every check and every
//           update (the literal algorithm: cost grows with the table).
//   merkle: a ternary Merkle tree whose leaves are H(0x00 || chunk_hpa || chunk) over the
//           32-byte chunks (4 entries) of every table page, 128 leaves per page in install
//           order; an empty chunk's leaf, and a node over empty subtrees, is the zero
//           digest, so a fresh table page costs the hashes of the chunks written in it. Only the
//           root, a sweep position and the indices of leaves not yet under the root live in
//           PSP-private memory; every tree level lives in PSP-owned frames (FrameUse::merkle,
//           write-blocked) taken from the VM's donated table pool. A check before an update
//           rehashes only the chunks the update's walks read or write and compares them with their
//           stored leaves; writing one entry rehashes one chunk at once. Its log3(n) ancestors and
//           the root are brought up to date in batches (settle()): when kDeferredLeaves leaves are
//           waiting, and before anyone reads the root.
//
// Why the batching is sound: every check before an update, and the amortised sweep,
// compares chunks with their stored *leaves*, which are always current; the root is read
// only by the whole-table check (which settles first, then compares it with a
// recomputation from the table pages alone). Deferring the interior changes when the
// hashes are computed, not what any check sees. Sequential mappings share most
// ancestors, so a batch costs a fraction of hashing each path on its own: the 14 node
// hashes a one-page NPT_MAP at 64 GiB used to pay were two thirds of its latency.
//
// Binding each chunk's (page's) host address into its digest makes moving a table page
// (pointing an entry at a copy elsewhere) as visible as changing its bytes. Tables added
// since the last commit are "pending": the PSP zeroed them, so until commit every chunk the
// PSP did not write must read as zeros (checked, not assumed).
//
// The security argument (what each check covers) is in docs/architecture.md, "Guarded NPT".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"
#include "hw/memory_controller.h"
#include "measure/policy.h"
#include "psp/npt_guard/merkle_tree.h"
#include "psp/npt_guard/node_hasher.h"
#include "psp/npt_guard/node_store.h"

namespace cvmsim::psp {

inline constexpr std::uint64_t kGuardChunkSize = 32;  // table bytes per Merkle leaf
inline constexpr std::uint64_t kGuardChunksPerPage = hw::kFrameSize / kGuardChunkSize;
// Leaves whose ancestors may wait for the next settle(): one table page's worth. Their
// indices are PSP-private state (a lost one would leave the root stale), so they are
// charged to the VM's PSP-private memory with the root and the sweep position.
inline constexpr std::size_t kDeferredLeaves = kGuardChunksPerPage;
inline constexpr std::size_t kGuardPrivateBytes =
    kMaxDigestSize + sizeof(std::uint64_t) + kDeferredLeaves * sizeof(std::uint64_t);

class TableGuard {
 public:
  // `psp` is how the guard reads table pages and writes its frames (the PSP's requester).
  TableGuard(crypto::SuiteId suite, measure::NptIntegrity algorithm, hw::Requester psp);
  TableGuard(const TableGuard&) = delete;
  TableGuard& operator=(const TableGuard&) = delete;
  ~TableGuard();

  // Where the Merkle store takes its frames (zeroed, tagged merkle + write-blocked).
  void set_frame_source(FrameNodeStore::FrameSource source);
  // Frames the store needs, beyond those it holds, to commit with `extra_tables` more
  // table pages than are registered now (always 0 for `full`).
  [[nodiscard]] std::uint64_t frames_needed(std::uint64_t extra_tables) const;

  // Registers a table page the PSP has just zeroed (pending until commit).
  void add_table(hw::MemoryController& mc, std::uint64_t table_hpa);
  [[nodiscard]] bool is_table(std::uint64_t hpa) const { return index_.contains(hpa); }
  // Records that the PSP wrote the entry at `entry_hpa` (its chunk is rehashed at commit).
  void note_write(std::uint64_t entry_hpa);

  // Check before an update: the chunks at these 32-byte-aligned addresses (merkle) or the
  // whole table (full) still hold what the PSP last wrote. False when an address is in no
  // table page, on any mismatch, and for good once a commit found tampering.
  [[nodiscard]] bool check_chunks(hw::MemoryController& mc, std::span<const std::uint64_t> chunks);
  // The same for whole table pages (every chunk of each listed page; full: the table).
  [[nodiscard]] bool check_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages);
  // Stores the new leaves after an update (noted writes, pending tables) and settles the
  // tree once kDeferredLeaves leaves wait. False, and latched, when a pending table holds
  // bytes the PSP did not write.
  [[nodiscard]] bool commit(hw::MemoryController& mc);
  // Brings the tree's interior and root up to date with every stored leaf.
  void settle();
  // Kept for LAUNCH_UPDATE: commit; a failure is latched and fails every later check.
  void update_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages);

  // The whole-table check: the value recomputed from the table pages alone (not from the
  // stored tree) equals the stored value, and pending tables are as the PSP left them.
  [[nodiscard]] bool check_all(hw::MemoryController& mc);
  // One step of the amortised periodic check: verifies the next `pages` table pages
  // (round robin) against their stored leaves. `full` cannot be amortised: it checks all.
  [[nodiscard]] bool sweep(hw::MemoryController& mc, std::uint64_t pages);
  // The value recomputed from the committed table pages alone.
  [[nodiscard]] Bytes recompute(hw::MemoryController& mc);

  [[nodiscard]] measure::NptIntegrity algorithm() const noexcept { return algorithm_; }
  [[nodiscard]] std::size_t table_pages() const noexcept { return tables_.size(); }
  [[nodiscard]] bool tampered() const noexcept { return tampered_; }
  // Leaves stored but not yet under the root (below kDeferredLeaves between commands).
  [[nodiscard]] std::size_t unsettled_leaves() const noexcept { return tree_.pending_leaves(); }
  // Bytes of PSP-owned frames holding the tree, and how many frames.
  [[nodiscard]] std::size_t frame_bytes() const noexcept;
  [[nodiscard]] std::size_t frames() const noexcept;
  // Bookkeeping the model keeps in the PSP object (table list, page index, frame list);
  // firmware would keep it in the same PSP-owned frames. Reported, not hidden.
  [[nodiscard]] std::size_t directory_bytes() const noexcept;
  // The stored value (settles the tree first).
  [[nodiscard]] const Bytes& value();

 private:
  // A chunk's Merkle leaf: H(0x00 || chunk_hpa || chunk), or the zero digest when the
  // chunk is all zeros (docs/formats.md, "NPT digest").
  void chunk_leaf(std::uint64_t chunk_hpa, ByteView chunk, MutableByteView out);
  [[nodiscard]] bool pending_are_clean(hw::MemoryController& mc, std::vector<std::uint64_t>& noted);
  [[nodiscard]] bool page_matches_leaves(hw::MemoryController& mc, std::uint64_t page_index);
  [[nodiscard]] Bytes full_digest(hw::MemoryController& mc, std::size_t pages);
  [[nodiscard]] Bytes merkle_leaves(hw::MemoryController& mc, std::size_t pages);

  crypto::SuiteId suite_;
  measure::NptIntegrity algorithm_;
  hw::Requester psp_;
  NodeHasher hasher_;
  FrameNodeStore store_;
  MerkleTree tree_;
  std::vector<std::uint64_t> tables_;                       // install order
  std::unordered_map<std::uint64_t, std::uint64_t> index_;  // page hpa -> install index
  std::size_t committed_ = 0;                               // tables_[0, committed_) hashed
  std::vector<std::uint64_t> noted_;                        // chunk hpas written
  Bytes full_value_;
  // The buffer every table page is read back into, one at a time: kept, so that reading a
  // page allocates nothing.
  Bytes page_;
  std::uint64_t sweep_position_ = 0;
  bool tampered_ = false;
};

}  // namespace cvmsim::psp
