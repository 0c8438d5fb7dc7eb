// A binary Merkle tree over fixed-size leaf digests, the `merkle` characteristic value of a
// guarded NPT. Leaves are the digests of the NPT's table pages (bound to their frame
// address); only the root needs to live in PSP-private memory. The interior nodes live in
// PSP-owned frames that the host cannot write (the memory controller blocks it), which is
// why verifying one leaf against the root costs O(log n) hashes and no trust in the host.
//
// Layout: levels_[0] holds the leaves, levels_[k] the nodes k levels up; a node is
// H(0x01 || left || right), a missing right child (odd count) is the zero digest, and a
// leaf is H(0x00 || leaf payload) computed by the caller via leaf_digest(). The domain
// bytes keep a leaf from being confused with an interior node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"

namespace cvmsim::psp {

class MerkleTree {
 public:
  explicit MerkleTree(crypto::SuiteId suite);

  // H(0x00 || payload): the digest of one table page (payload = frame address || contents).
  [[nodiscard]] Bytes leaf_digest(ByteView payload) const;

  // Appends a leaf and returns its index. O(log n).
  std::size_t append(ByteView leaf);
  // Replaces leaf `index` and recomputes its path. O(log n).
  void update(std::size_t index, ByteView leaf);
  // True when `leaf` at `index` is consistent with the stored path and `trusted_root`.
  [[nodiscard]] bool verify(std::size_t index, ByteView leaf, ByteView trusted_root) const;

  [[nodiscard]] const Bytes& root() const noexcept { return root_; }
  [[nodiscard]] std::size_t leaf_count() const noexcept { return levels_.front().size(); }
  // Bytes of interior + leaf storage (kept in PSP-owned frames, not private memory).
  [[nodiscard]] std::size_t node_storage_bytes() const;
  // Recomputes the root from the given leaves alone (the periodic full check).
  [[nodiscard]] Bytes root_of(const std::vector<Bytes>& leaves) const;

 private:
  [[nodiscard]] Bytes node(ByteView left, ByteView right) const;
  void recompute_path(std::size_t index);

  crypto::SuiteId suite_;
  std::size_t digest_size_;
  Bytes zero_;
  std::vector<std::vector<Bytes>> levels_;
  Bytes root_;
};

}  // namespace cvmsim::psp
