// A k-ary Merkle tree (k = 3) over fixed-size leaf digests: the `merkle` characteristic
// value of a guarded NPT. The caller computes leaves (NodeHasher::leaf over 32-byte table
// chunks); the tree keeps every level in a NodeStore (PSP-owned frames in the PSP) and
// only the root is kept apart, in the PSP-private copy root().
//
// Shape: level 0 holds the n leaves, level l+1 holds ceil(count_l / k) nodes, up to a
// level of one node, the root (n = 1: the leaf itself; n = 0: the zero digest). A node is
// H(0x01 || child_0 || child_1 || child_2), a missing child the zero digest, and a node
// whose children are all zero digests is the zero digest itself (sparse: with the guard's
// zero leaf for an empty chunk, an empty subtree costs nothing to build). Why k = 3: a
// ternary node is 97 bytes, two SM3 blocks (0.47 us here), and resolves log2(3) = 1.58
// bits of leaf index; binary costs 0.41 us per bit, 4-ary 0.35 (measured, 2-core Zen 5).
//
// Updates are batched: set_leaf() marks leaves, commit() rehashes each dirty ancestor
// once, level by level. One leaf costs one hash per level (log3 n); leaves set close
// together share their ancestors, so a batch of them costs far less per leaf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "psp/npt_guard/node_hasher.h"
#include "psp/npt_guard/node_store.h"

namespace cvmsim::psp {

class MerkleTree {
 public:
  static constexpr std::uint64_t kArity = 3;

  MerkleTree(NodeHasher& hasher, NodeStore& store);

  // Node count per level for `leaves` leaves (level 0 first, the root's level last).
  [[nodiscard]] static std::vector<std::uint64_t> level_counts(std::uint64_t leaves);

  // Grows the tree to `leaves` leaves (the new ones read as zero digests until set).
  // False when the store cannot hold them (nothing changed then).
  [[nodiscard]] bool grow(std::uint64_t leaves);
  void set_leaf(std::uint64_t index, ByteView digest);
  // Rehashes the ancestors of every leaf set since the last commit; updates root().
  void commit();
  // Leaves set since the last commit (a leaf set twice in a row counts once; a grow that
  // made the tree taller counts leaf 0, whose spine holds the new top): until the next
  // commit, root() does not cover them.
  [[nodiscard]] std::size_t pending_leaves() const noexcept { return dirty_.size(); }

  [[nodiscard]] ByteView leaf(std::uint64_t index) const { return store_.node(0, index); }
  [[nodiscard]] const Bytes& root() const noexcept { return root_; }
  [[nodiscard]] std::uint64_t leaf_count() const noexcept { return counts_.front(); }
  [[nodiscard]] std::size_t depth() const noexcept { return counts_.size(); }

  // The root of `leaves` (n digests back to back) computed from scratch: what a fresh
  // recomputation gives, independent of the store.
  [[nodiscard]] static Bytes root_of(NodeHasher& hasher, Bytes leaves);

 private:
  void hash_children(std::size_t level, std::uint64_t parent, MutableByteView out);

  NodeHasher& hasher_;
  NodeStore& store_;
  std::size_t digest_size_;
  Bytes zero_;
  std::vector<std::uint64_t> counts_{0};
  std::vector<std::uint64_t> dirty_;
  Bytes root_;
};

}  // namespace cvmsim::psp
