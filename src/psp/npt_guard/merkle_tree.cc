#include "psp/npt_guard/merkle_tree.h"

#include "crypto/suite.h"

namespace cvmsim::psp {

MerkleTree::MerkleTree(crypto::SuiteId suite)
    : suite_(suite),
      digest_size_(crypto::suite(suite).digest_size()),
      zero_(digest_size_, 0),
      levels_(1),
      root_(zero_) {}

Bytes MerkleTree::leaf_digest(ByteView payload) const {
  auto ctx = crypto::suite(suite_).new_hash();
  const std::uint8_t domain = 0x00;
  ctx->update({&domain, 1});
  ctx->update(payload);
  return ctx->finish();
}

Bytes MerkleTree::node(ByteView left, ByteView right) const {
  auto ctx = crypto::suite(suite_).new_hash();
  const std::uint8_t domain = 0x01;
  ctx->update({&domain, 1});
  ctx->update(left);
  ctx->update(right);
  return ctx->finish();
}

std::size_t MerkleTree::append(ByteView leaf) {
  levels_.front().push_back(to_bytes(leaf));
  const std::size_t index = levels_.front().size() - 1;
  recompute_path(index);
  return index;
}

void MerkleTree::update(std::size_t index, ByteView leaf) {
  levels_.front().at(index) = to_bytes(leaf);
  recompute_path(index);
}

void MerkleTree::recompute_path(std::size_t index) {
  std::size_t level = 0;
  while (levels_[level].size() > 1) {
    const auto& nodes = levels_[level];
    const std::size_t left = index & ~std::size_t{1};
    const Bytes& right = left + 1 < nodes.size() ? nodes[left + 1] : zero_;
    Bytes parent = node(nodes[left], right);
    const std::size_t parent_count = (nodes.size() + 1) / 2;
    // emplace_back may reallocate levels_, so `nodes` is not used past this point.
    if (level + 1 == levels_.size()) levels_.emplace_back();
    auto& up = levels_[level + 1];
    const std::size_t parent_index = index / 2;
    up.resize(parent_count);
    up[parent_index] = std::move(parent);
    index = parent_index;
    ++level;
  }
  root_ = levels_[level].empty() ? zero_ : levels_[level].front();
}

bool MerkleTree::verify(std::size_t index, ByteView leaf, ByteView trusted_root) const {
  if (index >= leaf_count()) return false;
  Bytes current = to_bytes(leaf);
  for (std::size_t level = 0; levels_[level].size() > 1; ++level) {
    const auto& nodes = levels_[level];
    const bool is_right = (index & 1) != 0;
    const std::size_t sibling = index ^ 1;
    const Bytes& other = sibling < nodes.size() ? nodes[sibling] : zero_;
    current = is_right ? node(other, current) : node(current, other);
    index /= 2;
  }
  return equal_constant_time(current, trusted_root);
}

std::size_t MerkleTree::node_storage_bytes() const {
  std::size_t nodes = 0;
  for (const auto& level : levels_) nodes += level.size();
  return nodes * digest_size_;
}

Bytes MerkleTree::root_of(const std::vector<Bytes>& leaves) const {
  if (leaves.empty()) return zero_;
  std::vector<Bytes> level = leaves;
  while (level.size() > 1) {
    std::vector<Bytes> up;
    up.reserve((level.size() + 1) / 2);
    for (std::size_t i = 0; i < level.size(); i += 2) {
      up.push_back(node(level[i], i + 1 < level.size() ? level[i + 1] : zero_));
    }
    level = std::move(up);
  }
  return level.front();
}

}  // namespace cvmsim::psp
