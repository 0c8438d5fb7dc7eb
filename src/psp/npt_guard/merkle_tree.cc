#include "psp/npt_guard/merkle_tree.h"

#include <algorithm>
#include <span>

namespace cvmsim::psp {
namespace {

// A node over `children` (k digests back to back, behind the domain byte at message[0]).
// Children that are all zero digests give the zero digest without hashing: a subtree of
// empty chunks is zero at every height, so a fresh, still-empty table page costs no hash
// and growing the tree by empty leaves changes no stored node (docs/formats.md).
void node_of(NodeHasher& hasher, std::span<std::uint8_t> message, MutableByteView out) {
  if (all_zero(ByteView(message).subspan(1))) {
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    return;
  }
  message[0] = 0x01;
  hasher.digest(message, out);
}

}  // namespace

MerkleTree::MerkleTree(NodeHasher& hasher, NodeStore& store)
    : hasher_(hasher),
      store_(store),
      digest_size_(hasher.digest_size()),
      zero_(digest_size_, 0),
      root_(zero_) {}

std::vector<std::uint64_t> MerkleTree::level_counts(std::uint64_t leaves) {
  std::vector<std::uint64_t> counts{leaves};
  while (counts.back() > 1) counts.push_back((counts.back() + kArity - 1) / kArity);
  return counts;
}

bool MerkleTree::grow(std::uint64_t leaves) {
  if (leaves < counts_.front()) return false;
  const std::vector<std::uint64_t> counts = level_counts(leaves);
  for (std::size_t level = 0; level < counts.size(); ++level) {
    if (!store_.reserve(level, counts[level])) return false;
  }
  // New leaves read as zero digests, and a missing child counts as one, so no node below
  // the old root changes value. A taller tree puts new nodes above the old root: marking
  // leaf 0 rehashes that spine (the old root is child 0 of each) at the next commit.
  const bool taller = counts.size() > counts_.size() && counts_.front() > 0;
  counts_ = counts;
  if (taller) dirty_.push_back(0);
  return true;
}

void MerkleTree::set_leaf(std::uint64_t index, ByteView digest) {
  store_.write(0, index, digest);
  if (dirty_.empty() || dirty_.back() != index) dirty_.push_back(index);
}

void MerkleTree::hash_children(std::size_t level, std::uint64_t parent, MutableByteView out) {
  // One contiguous message: 0x01 || child_0 || child_1 || child_2.
  std::uint8_t message[1 + kArity * kMaxDigestSize];
  for (std::uint64_t j = 0; j < kArity; ++j) {
    const std::uint64_t child = parent * kArity + j;
    const ByteView node = child < counts_[level] ? store_.node(level, child) : ByteView(zero_);
    std::copy(node.begin(), node.end(), message + 1 + j * digest_size_);
  }
  node_of(hasher_, {message, 1 + kArity * digest_size_}, out);
}

void MerkleTree::commit() {
  if (dirty_.empty()) return;
  std::vector<std::uint64_t> current = std::move(dirty_);
  dirty_.clear();
  Bytes digest(digest_size_);
  for (std::size_t level = 0; level + 1 < counts_.size(); ++level) {
    std::sort(current.begin(), current.end());
    current.erase(std::unique(current.begin(), current.end()), current.end());
    std::vector<std::uint64_t> parents;
    parents.reserve(current.size() / 2 + 1);
    for (std::uint64_t index : current) {
      const std::uint64_t parent = index / kArity;
      if (!parents.empty() && parents.back() == parent) continue;
      parents.push_back(parent);
      hash_children(level, parent, digest);
      store_.write(level + 1, parent, digest);
    }
    current = std::move(parents);
  }
  const ByteView top = counts_.front() == 0 ? ByteView(zero_) : store_.node(counts_.size() - 1, 0);
  root_.assign(top.begin(), top.end());
}

Bytes MerkleTree::root_of(NodeHasher& hasher, Bytes leaves) {
  const std::size_t d = hasher.digest_size();
  const Bytes zero(d, 0);
  if (leaves.empty()) return Bytes(d, 0);
  std::uint64_t count = leaves.size() / d;
  while (count > 1) {
    const std::uint64_t parents = (count + kArity - 1) / kArity;
    Bytes up(parents * d);
    Bytes message(1 + kArity * d);
    for (std::uint64_t p = 0; p < parents; ++p) {
      for (std::uint64_t j = 0; j < kArity; ++j) {
        const std::uint64_t child = p * kArity + j;
        const ByteView node =
            child < count ? ByteView(leaves).subspan(child * d, d) : ByteView(zero);
        std::copy(node.begin(), node.end(),
                  message.begin() + static_cast<std::ptrdiff_t>(1 + j * d));
      }
      node_of(hasher, message, MutableByteView(up).subspan(p * d, d));
    }
    leaves = std::move(up);
    count = parents;
  }
  return leaves;
}

}  // namespace cvmsim::psp
