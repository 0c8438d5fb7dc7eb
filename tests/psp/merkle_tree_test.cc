#include "psp/npt_guard/merkle_tree.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/suite.h"
#include "psp/npt_guard/check_timer.h"

namespace cvmsim::psp {
namespace {

using crypto::SuiteId;

Bytes random_leaf(NodeHasher& hasher, std::mt19937& rng) {
  Bytes chunk(32);
  for (auto& b : chunk) b = static_cast<std::uint8_t>(rng());
  Bytes out(hasher.digest_size());
  hasher.leaf(rng(), chunk, out);
  return out;
}

class MerkleForSuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(MerkleForSuite, IncrementalRootAlwaysEqualsAFreshRecomputation) {
  NodeHasher hasher(GetParam());
  MemoryNodeStore store(hasher.digest_size());
  MerkleTree tree(hasher, store);
  const std::size_t d = hasher.digest_size();
  Bytes leaves;
  std::mt19937 rng(42);
  for (int step = 0; step < 300; ++step) {
    const std::uint64_t count = leaves.size() / d;
    if (count == 0 || rng() % 3 == 0) {
      // Grow by a page-like batch of leaves, set them all, commit once.
      const std::uint64_t more = 1 + rng() % 20;
      ASSERT_TRUE(tree.grow(count + more));
      for (std::uint64_t i = 0; i < more; ++i) {
        const Bytes leaf = random_leaf(hasher, rng);
        tree.set_leaf(count + i, leaf);
        append(leaves, leaf);
      }
    } else {
      // Change a few random leaves, commit once.
      for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n) {
        const std::uint64_t index = rng() % count;
        const Bytes leaf = random_leaf(hasher, rng);
        tree.set_leaf(index, leaf);
        std::copy(leaf.begin(), leaf.end(),
                  leaves.begin() + static_cast<std::ptrdiff_t>(index * d));
      }
    }
    tree.commit();
    ASSERT_EQ(tree.root(), MerkleTree::root_of(hasher, leaves)) << "step " << step;
  }
  EXPECT_EQ(tree.leaf_count(), leaves.size() / d);
}

TEST_P(MerkleForSuite, EveryLeafChangesTheRoot) {
  NodeHasher hasher(GetParam());
  MemoryNodeStore store(hasher.digest_size());
  MerkleTree tree(hasher, store);
  std::mt19937 rng(7);
  ASSERT_TRUE(tree.grow(40));
  for (std::uint64_t i = 0; i < 40; ++i) tree.set_leaf(i, random_leaf(hasher, rng));
  tree.commit();
  const Bytes root = tree.root();
  for (std::uint64_t i = 0; i < 40; ++i) {
    Bytes changed = to_bytes(tree.leaf(i));
    const Bytes saved = changed;
    changed[i % changed.size()] ^= 1;
    tree.set_leaf(i, changed);
    tree.commit();
    EXPECT_NE(tree.root(), root) << "leaf " << i;
    tree.set_leaf(i, saved);
    tree.commit();
    EXPECT_EQ(tree.root(), root);
  }
}

TEST_P(MerkleForSuite, LeavesLeftEmptyGiveTheRootOfZeroDigests) {
  // Grows the tree page by page (128 leaves), setting only a few leaves of each, as the
  // guard does for a fresh table: the leaves not set must count as zero digests, and the
  // incremental root must equal a recomputation over all of them.
  NodeHasher hasher(GetParam());
  MemoryNodeStore store(hasher.digest_size());
  MerkleTree tree(hasher, store);
  const std::size_t d = hasher.digest_size();
  Bytes leaves;
  std::mt19937 rng(11);
  Bytes previous_root = tree.root();
  for (int page = 0; page < 40; ++page) {
    const std::uint64_t count = leaves.size() / d;
    ASSERT_TRUE(tree.grow(count + 128));
    leaves.resize(leaves.size() + 128 * d, 0);
    for (int n = static_cast<int>(rng() % 3); n > 0; --n) {
      const std::uint64_t index = count + rng() % 128;
      const Bytes leaf = random_leaf(hasher, rng);
      tree.set_leaf(index, leaf);
      std::copy(leaf.begin(), leaf.end(), leaves.begin() + static_cast<std::ptrdiff_t>(index * d));
    }
    tree.commit();
    ASSERT_EQ(tree.root(), MerkleTree::root_of(hasher, leaves)) << "page " << page;
    if (!all_zero(previous_root) && tree.depth() > MerkleTree::level_counts(count).size()) {
      // A taller tree over the same non-zero leaves has a new top, even with no leaf set.
      EXPECT_NE(tree.root(), previous_root) << "page " << page;
    }
    previous_root = tree.root();
  }
}

TEST_P(MerkleForSuite, EmptySubtreesAreTheZeroDigestAndAnythingElseIsNot) {
  NodeHasher hasher(GetParam());
  const std::size_t d = hasher.digest_size();
  EXPECT_EQ(MerkleTree::root_of(hasher, Bytes(200 * d, 0)), Bytes(d, 0));
  // One non-zero leaf anywhere gives a non-zero root; moving it changes the root.
  std::mt19937 rng(5);
  const Bytes leaf = random_leaf(hasher, rng);
  Bytes seen;
  for (std::uint64_t index : {0u, 1u, 2u, 3u, 100u, 199u}) {
    Bytes leaves(200 * d, 0);
    std::copy(leaf.begin(), leaf.end(), leaves.begin() + static_cast<std::ptrdiff_t>(index * d));
    const Bytes root = MerkleTree::root_of(hasher, leaves);
    EXPECT_FALSE(all_zero(root)) << "leaf " << index;
    EXPECT_EQ(seen.size() % d, 0u);
    for (std::size_t i = 0; i < seen.size(); i += d) {
      EXPECT_NE(Bytes(seen.begin() + static_cast<std::ptrdiff_t>(i),
                      seen.begin() + static_cast<std::ptrdiff_t>(i + d)),
                root)
          << "leaf " << index;
    }
    append(seen, root);
  }
}

TEST_P(MerkleForSuite, LevelsFollowTheArity) {
  EXPECT_EQ(MerkleTree::level_counts(1), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(MerkleTree::level_counts(3), (std::vector<std::uint64_t>{3, 1}));
  EXPECT_EQ(MerkleTree::level_counts(4), (std::vector<std::uint64_t>{4, 2, 1}));
  EXPECT_EQ(MerkleTree::level_counts(128).size(), 6u);  // 128, 43, 15, 5, 2, 1
  NodeHasher hasher(GetParam());
  EXPECT_EQ(MerkleTree::root_of(hasher, {}), Bytes(hasher.digest_size(), 0));
}

TEST_P(MerkleForSuite, LeafAndNodeDomainsAreSeparated) {
  NodeHasher hasher(GetParam());
  const std::size_t d = hasher.digest_size();
  Bytes a(d), b(d), c(d);
  std::mt19937 rng(3);
  a = random_leaf(hasher, rng);
  b = random_leaf(hasher, rng);
  c = random_leaf(hasher, rng);
  Bytes leaves = a;
  append(leaves, b);
  append(leaves, c);
  const Bytes root = MerkleTree::root_of(hasher, leaves);
  // The same bytes hashed as a leaf payload (domain 0x00) must not give the node.
  Bytes as_leaf(d);
  hasher.begin(0x00);
  hasher.update(leaves);
  hasher.finish(as_leaf);
  EXPECT_NE(as_leaf, root);
  Bytes as_node(d);
  hasher.begin(0x01);
  hasher.update(leaves);
  hasher.finish(as_node);
  EXPECT_EQ(as_node, root);
}

INSTANTIATE_TEST_SUITE_P(Suites, MerkleForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

TEST(CheckTimer, FiresOncePerIntervalAndCountsMissedDeadlines) {
  CheckTimer timer;
  EXPECT_EQ(timer.advance(1'000'000), 0u);  // off by default
  timer.configure(100, 1'000'000);
  EXPECT_EQ(timer.advance(1'000'099), 0u);
  EXPECT_EQ(timer.advance(1'000'100), 1u);
  EXPECT_EQ(timer.advance(1'000'150), 0u);
  EXPECT_EQ(timer.advance(1'000'450), 3u);  // 200, 300, 400
  EXPECT_EQ(timer.advance(1'000'000), 0u);  // the clock never runs backwards
  EXPECT_EQ(timer.ticks(), 4u);
  timer.configure(~std::uint64_t{0}, timer.now());
  EXPECT_EQ(timer.advance(~std::uint64_t{0} - 1), 0u);  // a deadline past the end never fires
  timer.configure(0, 0);
  EXPECT_EQ(timer.advance(~std::uint64_t{0}), 0u);
}

}  // namespace
}  // namespace cvmsim::psp
