#include "hw/npt.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "hw/hw_error.h"
#include "hw_test_access.h"

namespace cvmsim::hw::npt {
namespace {

struct NptFixture : ::testing::Test {
  HostMemory memory{16 * kChunkSize};
  MemoryController mc{memory, crypto::SuiteId::sm};
  Editor editor{mc, kHostAccess};
  std::uint64_t next_frame = 0x200000;
  Editor::TableAllocator allocate = [this] {
    const std::uint64_t f = next_frame;
    next_frame += kFrameSize;
    return f;
  };
  const std::uint64_t root = allocate();

  void map(std::uint64_t gpa, std::uint64_t hpa, std::uint64_t flags) {
    editor.write_entry(*editor.leaf_entry_address(root, gpa, &allocate), make_entry(hpa, flags));
  }
};

TEST_F(NptFixture, WalkTranslatesAndFaultsWithTheLevel) {
  map(0x7000, 0x900000, kPresent | kWritable);
  const auto ok = walk(mc, root, 0x7123, Access::read);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.translation->hpa, 0x900123u);
  EXPECT_TRUE(ok.translation->writable);
  EXPECT_FALSE(ok.translation->executable);
  const auto exec = walk(mc, root, 0x7000, Access::execute);
  EXPECT_FALSE(exec.ok());
  EXPECT_EQ(exec.fault.kind, FaultKind::permission);
  // A GPA in another 512 GiB region stops at the root (level 3).
  const auto far = walk(mc, root, 1ull << 40, Access::read);
  EXPECT_EQ(far.fault.kind, FaultKind::not_present);
  EXPECT_EQ(far.fault.level, 3);
  // Same leaf table, empty slot: stops at level 0.
  EXPECT_EQ(walk(mc, root, 0x8000, Access::read).fault.level, 0);
  EXPECT_EQ(walk(mc, root, kGpaLimit, Access::read).fault.kind, FaultKind::bad_address);
}

TEST_F(NptFixture, ReservedBitsAreRefused) {
  map(0x7000, 0x900000, kPresent);
  const auto entry_hpa = *editor.leaf_entry_address(root, 0x7000, nullptr);
  editor.write_entry(entry_hpa, make_entry(0x900000, kPresent) | (1ull << 60));
  EXPECT_EQ(walk(mc, root, 0x7000, Access::read).fault.kind, FaultKind::reserved_bits);
}

TEST_F(NptFixture, SparseTerabyteGuestNeedsTablesOnlyWhereMapped) {
  const std::uint64_t before = next_frame;
  for (int i = 0; i < 8; ++i) {
    map((static_cast<std::uint64_t>(i) << 37) + 0x1000, 0x900000, kPresent);
  }
  // 8 mappings 128 GiB apart span two root entries (512 GiB each): 2 level-2 tables, and
  // one level-1 and one level-0 table per mapping: 18 table pages for a 1 TiB range.
  EXPECT_EQ((next_frame - before) / kFrameSize, 18u);
  EXPECT_TRUE(walk(mc, root, (7ull << 37) + 0x1000, Access::read).ok());
}

TEST_F(NptFixture, TablePagesAreEnumeratedForTheDigest) {
  map(0x7000, 0x900000, kPresent);
  map(1ull << 39, 0x901000, kPresent);  // second root entry: 3 more tables
  std::vector<std::pair<std::uint64_t, int>> seen;
  for_each_table_page(mc, root,
                      [&](std::uint64_t hpa, int level) { seen.emplace_back(hpa, level); });
  ASSERT_EQ(seen.size(), 7u);  // root + 2 x (level 2, 1, 0)
  EXPECT_EQ(seen[0], std::make_pair(root, 3));
  EXPECT_EQ(seen[1].second, 2);
  EXPECT_EQ(seen[3].second, 0);
  // An entry with reserved bits is not followed (the walker would refuse it too).
  const auto entry_hpa = root + kEntrySize * index_at(1ull << 39, 3);
  editor.write_entry(entry_hpa, editor.read_entry(entry_hpa) | (1ull << 55));
  seen.clear();
  for_each_table_page(mc, root,
                      [&](std::uint64_t hpa, int level) { seen.emplace_back(hpa, level); });
  EXPECT_EQ(seen.size(), 4u);
}

// The range walk visits exactly the entries that page-by-page walks of the range read.
TEST_F(NptFixture, RangeWalkVisitsTheEntriesEveryWalkOfTheRangeReads) {
  // Two leaf tables (the range crosses a 2 MiB boundary), one page mapped in each.
  map(0x1ff000, 0x900000, kPresent);
  map(0x200000, 0x901000, kPresent);
  const std::uint64_t lo = 0x1fe000, hi = 0x202000;  // 4 pages
  std::vector<std::uint64_t> visited;
  for_each_entry_read(mc, kHostAccess, root, lo, hi,
                      [&](std::uint64_t entry) { visited.push_back(entry); });
  // What walks read, page by page: each level's entry, until one is not present.
  std::set<std::uint64_t> expected;
  for (std::uint64_t gpa = lo; gpa < hi; gpa += kFrameSize) {
    const std::vector<std::uint64_t> tables = path_tables(mc, kHostAccess, root, gpa);
    ASSERT_EQ(tables.size(), 4u);  // both leaf tables exist
    for (std::size_t depth = 0; depth < tables.size(); ++depth) {
      const int level = kLevels - 1 - static_cast<int>(depth);
      expected.insert(tables[depth] + kEntrySize * index_at(gpa, level));
    }
  }
  EXPECT_EQ(std::set<std::uint64_t>(visited.begin(), visited.end()), expected);
  EXPECT_EQ(visited.size(), expected.size());  // each once
  // Where a level is missing the path stops there, and so does the range walk.
  EXPECT_EQ(path_tables(mc, kHostAccess, root, 1ull << 40).size(), 1u);
  visited.clear();
  for_each_entry_read(mc, kHostAccess, root, 1ull << 40, (1ull << 40) + kFrameSize,
                      [&](std::uint64_t entry) { visited.push_back(entry); });
  EXPECT_EQ(visited, (std::vector<std::uint64_t>{root + kEntrySize * index_at(1ull << 40, 3)}));
}

TEST_F(NptFixture, LeafTableCarriesUpperPermissions) {
  map(0x200000, 0x900000, kPresent | kWritable);
  map(0x201000, 0x901000, kPresent);
  const auto leaf = read_leaf_table(mc, root, 0x200000);
  ASSERT_TRUE(leaf.has_value());
  EXPECT_TRUE(leaf->writable);
  EXPECT_EQ(leaf->entries[0], make_entry(0x900000, kPresent | kWritable));
  EXPECT_EQ(leaf->entries[1], make_entry(0x901000, kPresent));
  EXPECT_EQ(leaf->entries[2], 0u);
  EXPECT_FALSE(read_leaf_table(mc, root, 1ull << 30).has_value());  // no level-1 table there
  EXPECT_THROW((void)editor.leaf_entry_address(root, kGpaLimit, &allocate), HwError);
}

// The PSP validates DMA buffers with one leaf-table read per 2 MiB: each page must get
// exactly what a full walk gives, translation or fault, for every kind of entry.
TEST_F(NptFixture, WalkLeafGivesWhatAFullWalkGives) {
  const std::uint64_t base = 0x400000;
  map(base + 0x0000, 0x900000, kPresent | kWritable);
  map(base + 0x1000, 0x901000, kPresent);
  map(base + 0x2000, 0x902000, kPresent | kExecutable);
  map(base + 0x3000, 0x903000, kPresent | kWritable | kShared);
  map(base + 0x4000, memory.size(), kPresent | kWritable);  // a frame beyond host memory
  map(base + 0x5000, 0x905000, kPresent | kWritable);
  const auto reserved = *editor.leaf_entry_address(root, base + 0x5000, nullptr);
  editor.write_entry(reserved, editor.read_entry(reserved) | (1ull << 60));
  // The leaf table's own pointer in level 1 without the writable bit: no page of it is.
  map(0x600000, 0x906000, kPresent | kWritable);
  std::uint64_t table = root;
  for (int level = kLevels - 1; level > 1; --level) {
    table = editor.read_entry(table + kEntrySize * index_at(0x600000, level)) & kFrameMask;
  }
  const std::uint64_t pointer = table + kEntrySize * index_at(0x600000, 1);
  editor.write_entry(pointer, editor.read_entry(pointer) & ~kWritable);
  for (const std::uint64_t region : {base, std::uint64_t{0x600000}}) {
    const auto leaf = read_leaf_table(mc, root, region);
    ASSERT_TRUE(leaf.has_value());
    for (std::uint64_t page = 0; page < 8; ++page) {
      const std::uint64_t gpa = region + page * kFrameSize + 0x123;
      for (const Access access : {Access::read, Access::write, Access::execute}) {
        const WalkResult full = walk(mc, root, gpa, access);
        const WalkResult fast = walk_leaf(*leaf, memory.size(), gpa, access);
        SCOPED_TRACE(::testing::Message() << std::hex << gpa << " " << to_string(access));
        ASSERT_EQ(fast.ok(), full.ok());
        if (full.ok()) {
          EXPECT_EQ(fast.translation->hpa, full.translation->hpa);
          EXPECT_EQ(fast.translation->writable, full.translation->writable);
          EXPECT_EQ(fast.translation->executable, full.translation->executable);
          EXPECT_EQ(fast.translation->shared, full.translation->shared);
        } else {
          EXPECT_EQ(fast.fault.kind, full.fault.kind);
          EXPECT_EQ(fast.fault.level, full.fault.level);
          EXPECT_EQ(fast.fault.gpa, full.fault.gpa);
        }
      }
    }
  }
}

TEST_F(NptFixture, IsolatedTablesRefuseHostWritesButStayWalkable) {
  map(0x7000, 0x900000, kPresent);
  const auto entry_hpa = *editor.leaf_entry_address(root, 0x7000, nullptr);
  const std::uint64_t table = entry_hpa & ~std::uint64_t{0xfff};
  mc.set_tag(HardwareTestAccess::passkey(), table,
             {0, 1, FrameUse::npt, FrameGuard::write_blocked});
  EXPECT_THROW(editor.write_entry(entry_hpa, 0), HwError);  // the VMM's editor
  EXPECT_TRUE(walk(mc, root, 0x7000, Access::read).ok());   // the walker only reads
  Editor psp_editor(mc, Requester::psp(HardwareTestAccess::passkey()));
  psp_editor.write_entry(entry_hpa, 0);
  EXPECT_FALSE(walk(mc, root, 0x7000, Access::read).ok());
}

}  // namespace
}  // namespace cvmsim::hw::npt
