#include "psp/npt_guard/merkle_tree.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/suite.h"

namespace cvmsim::psp {
namespace {

using crypto::SuiteId;

class MerkleForSuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(MerkleForSuite, IncrementalRootAlwaysEqualsAFreshRecomputation) {
  MerkleTree tree(GetParam());
  std::vector<Bytes> leaves;
  std::mt19937 rng(42);
  for (int step = 0; step < 300; ++step) {
    const Bytes payload = crypto::random_bytes(8 + rng() % 64);
    const Bytes leaf = tree.leaf_digest(payload);
    if (leaves.empty() || rng() % 3 != 0) {
      EXPECT_EQ(tree.append(leaf), leaves.size());
      leaves.push_back(leaf);
    } else {
      const std::size_t index = rng() % leaves.size();
      tree.update(index, leaf);
      leaves[index] = leaf;
    }
    ASSERT_EQ(tree.root(), tree.root_of(leaves)) << "step " << step;
  }
  EXPECT_EQ(tree.leaf_count(), leaves.size());
}

TEST_P(MerkleForSuite, VerifyAcceptsTheStoredLeafAndRefusesAnyOther) {
  MerkleTree tree(GetParam());
  std::vector<Bytes> leaves;
  for (int i = 0; i < 37; ++i) {
    leaves.push_back(tree.leaf_digest(crypto::random_bytes(16)));
    tree.append(leaves.back());
  }
  const Bytes root = tree.root();
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_TRUE(tree.verify(i, leaves[i], root));
    Bytes changed = leaves[i];
    changed[5] ^= 1;
    EXPECT_FALSE(tree.verify(i, changed, root));
    EXPECT_FALSE(tree.verify((i + 1) % leaves.size(), leaves[i], root));
  }
  Bytes stale_root = root;
  stale_root[0] ^= 0x80;
  EXPECT_FALSE(tree.verify(3, leaves[3], stale_root));
  EXPECT_FALSE(tree.verify(leaves.size(), leaves[0], root));
}

TEST_P(MerkleForSuite, LeafAndNodeDomainsAreSeparated) {
  MerkleTree tree(GetParam());
  const Bytes a = tree.leaf_digest(Bytes{1});
  const Bytes b = tree.leaf_digest(Bytes{2});
  tree.append(a);
  tree.append(b);
  Bytes concatenated = a;
  append(concatenated, b);
  // A leaf whose payload is two child digests must not collide with their parent.
  EXPECT_NE(tree.leaf_digest(concatenated), tree.root());
}

INSTANTIATE_TEST_SUITE_P(Suites, MerkleForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::psp
