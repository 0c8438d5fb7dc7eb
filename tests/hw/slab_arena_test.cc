// The arena the frame-tag table's chunks live in: distinct, zeroed, aligned objects, across
// as many slabs as they need.
#include "hw/slab_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <new>
#include <vector>

namespace cvmsim::hw {
namespace {

struct Chunk {  // the size of the memory controller's ChunkTags: 512 tags of 12 bytes
  std::array<std::uint32_t, 3 * 512> words;
};

TEST(SlabArena, ObjectsAreZeroedAlignedAndDisjointAcrossSlabs) {
  SlabArena arena(sizeof(Chunk), alignof(Chunk));
  constexpr std::size_t kPerSlab = SlabArena::kSlabSize / sizeof(Chunk);  // 341
  std::vector<Chunk*> chunks;
  for (std::size_t i = 0; i < 2 * kPerSlab + 5; ++i) {
    Chunk* c = arena.make<Chunk>();
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(c) % alignof(Chunk), 0u);
    ASSERT_TRUE(std::all_of(c->words.begin(), c->words.end(), [](auto w) { return w == 0; }));
    c->words.fill(static_cast<std::uint32_t>(i + 1));  // would show through any overlap
    chunks.push_back(c);
  }
  EXPECT_EQ(arena.mapped_bytes(), 3 * SlabArena::kSlabSize);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto expected = static_cast<std::uint32_t>(i + 1);
    EXPECT_TRUE(std::all_of(chunks[i]->words.begin(), chunks[i]->words.end(),
                            [&](auto w) { return w == expected; }))
        << "chunk " << i;
  }
  std::vector<Chunk*> sorted = chunks;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    EXPECT_GE(reinterpret_cast<std::uintptr_t>(sorted[i]),
              reinterpret_cast<std::uintptr_t>(sorted[i - 1]) + sizeof(Chunk));
  }
}

TEST(SlabArena, RefusesAnotherTypeOrAnImpossibleSize) {
  SlabArena arena(sizeof(Chunk), alignof(Chunk));
  EXPECT_THROW((void)arena.make<std::uint64_t>(), std::bad_alloc);
  EXPECT_EQ(arena.mapped_bytes(), 0u);
  EXPECT_THROW(SlabArena(SlabArena::kSlabSize + 1, 8), std::bad_alloc);
  EXPECT_THROW(SlabArena(64, 3), std::bad_alloc);
}

}  // namespace
}  // namespace cvmsim::hw
