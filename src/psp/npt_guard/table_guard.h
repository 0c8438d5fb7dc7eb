// The NPT guard's characteristic value ("npt digest") over a VM's table pages.
//
//   full:   H( hpa_0 || page_0 || hpa_1 || page_1 || ... ) over every table page, in the
//           order the PSP installed them; recomputed whole for every check (the literal
//           algorithm: cost grows with the table).
//   merkle: a Merkle tree whose leaves are H(0x00 || hpa || page) per table page. Only the
//           root (d bytes) and the page count live in PSP-private memory; the tree's nodes
//           and the hpa -> leaf index live in PSP-owned frames the host cannot write. A
//           check before an update verifies just the pages the update walks (O(log n) each);
//           pages it does not touch are covered by the periodic check_all().
//
// Binding each page's host address into its leaf makes moving a table page (pointing an
// entry at a copy elsewhere) as visible as changing its bytes.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"
#include "hw/memory_controller.h"
#include "measure/policy.h"
#include "psp/npt_guard/merkle_tree.h"

namespace cvmsim::psp {

class TableGuard {
 public:
  // `reader` is how the guard reads table pages (the PSP's own requester).
  TableGuard(crypto::SuiteId suite, measure::NptIntegrity algorithm, hw::Requester reader);

  // Records a new (zeroed or freshly written) table page.
  void add_table(hw::MemoryController& mc, std::uint64_t table_hpa);
  // True when the listed pages (merkle) or the whole table (full) match the stored value.
  [[nodiscard]] bool check_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages);
  // Verifies every table page: the periodic check.
  [[nodiscard]] bool check_all(hw::MemoryController& mc);
  // Recomputes the value after the PSP changed the listed pages.
  void update_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages);

  [[nodiscard]] std::size_t table_pages() const noexcept { return tables_.size(); }
  // What the guard keeps in PSP-private memory (the stored value and a page count).
  [[nodiscard]] std::size_t private_bytes() const noexcept;
  // What it keeps in PSP-owned frames (Merkle nodes, leaf index).
  [[nodiscard]] std::size_t frame_bytes() const noexcept;
  [[nodiscard]] const Bytes& value() const;

 private:
  [[nodiscard]] Bytes page_payload(hw::MemoryController& mc, std::uint64_t hpa) const;
  [[nodiscard]] Bytes full_digest(hw::MemoryController& mc) const;

  crypto::SuiteId suite_;
  measure::NptIntegrity algorithm_;
  hw::Requester reader_;
  std::vector<std::uint64_t> tables_;                  // install order
  std::unordered_map<std::uint64_t, std::size_t> index_;  // hpa -> leaf index
  MerkleTree tree_;
  Bytes full_value_;
};

}  // namespace cvmsim::psp
