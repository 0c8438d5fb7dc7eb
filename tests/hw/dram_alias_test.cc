// DRAM aliases (BadRAM): host memory gives an alias address the very cells of its target;
// the memory controller guards and tweaks the alias by its own address while the cells
// keep their frame's ciphertext, so the host reads a victim's ciphertext through the
// alias and a replay there rolls the victim back. Both representations (fast, strict)
// must show the same.
#include "hw/dram_alias.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/suite.h"
#include "hw/host_memory.h"
#include "hw/hw_error.h"
#include "hw/memory_controller.h"
#include "hw_test_access.h"

namespace cvmsim::hw {
namespace {

using crypto::SuiteId;

constexpr std::uint64_t kMemory = 8 * kChunkSize;
constexpr std::uint64_t kVictim = 0x10000;
constexpr std::uint64_t kAlias = kMemory / 2 + kVictim;  // the upper half aliases the lower

DramAlias upper_half() {
  return {.alias = kMemory / 2, .target = 0, .length = kMemory / 2};
}

TEST(HostMemoryAlias, AnAliasAddressReachesTheTargetsCells) {
  HostMemory memory(kMemory, {upper_half()});
  memory.frame(kVictim)[5] = 7;
  EXPECT_EQ(memory.frame(kAlias)[5], 7);
  memory.span(kAlias, 16)[9] = 3;
  EXPECT_EQ(memory.frame(kVictim)[9], 3);
  EXPECT_EQ(memory.resident_bytes(), kFrameSize);  // one frame of cells, two addresses
  EXPECT_EQ(memory.alias_target(kAlias), kVictim);
  EXPECT_FALSE(memory.alias_target(kVictim).has_value());
  memory.zero(kAlias, kFrameSize);  // zeroing through the alias returns the cells
  EXPECT_EQ(memory.resident_bytes(), 0u);
  EXPECT_EQ(memory.frame(kVictim)[5], 0);
}

TEST(HostMemoryAlias, RefusesConfigurationsNoModuleMakes) {
  const auto refused = [](DramAlias a) {
    EXPECT_THROW(HostMemory(kMemory, {a}), HwError) << a.alias << " " << a.target;
  };
  refused({.alias = kMemory / 2, .target = 0, .length = 0});                        // empty
  refused({.alias = kMemory / 2 + 1, .target = 0, .length = kFrameSize});           // misaligned
  refused({.alias = kMemory - kFrameSize, .target = 0, .length = 2 * kFrameSize});  // outside
  refused({.alias = kFrameSize, .target = 0, .length = 2 * kFrameSize});            // self-overlap
  refused({.alias = ~std::uint64_t{0} - kFrameSize + 1, .target = 0, .length = kFrameSize});
  EXPECT_THROW(
      HostMemory(kMemory,
                 {upper_half(),
                  {.alias = kMemory / 2 + kFrameSize, .target = kFrameSize, .length = kFrameSize}}),
      HwError);  // a second alias over the first
}

TEST(HostMemoryAlias, ParsesTheCommandLineForm) {
  EXPECT_EQ(parse_dram_alias("0x200000:0:4096"),
            (DramAlias{.alias = 0x200000, .target = 0, .length = 4096}));
  for (const char* bad : {"", "1:2", "1:2:3:4", "x:0:4096", "0x:0:1", "1:2:-3", "1 :2:3"}) {
    EXPECT_THROW((void)parse_dram_alias(bad), HwError) << bad;
  }
}

class AliasForSuite : public ::testing::TestWithParam<std::tuple<SuiteId, bool>> {
 protected:
  SuiteId suite() const { return std::get<0>(GetParam()); }
  HostMemory memory{kMemory, {upper_half()}};
  MemoryController mc{memory, suite(), std::get<1>(GetParam())};
  Bytes vek = crypto::random_bytes(crypto::suite(suite()).xts_key_size());

  void SetUp() override {
    mc.load_key(test_passkey(), 1, vek);
    mc.set_tag_zeroed(test_passkey(), kVictim, {1, 1, FrameUse::guest, FrameGuard::none});
  }
  Bytes read(std::uint64_t hpa, Requester who) {
    Bytes out(kFrameSize);
    mc.read(hpa, out, who);
    return out;
  }
};

TEST_P(AliasForSuite, TheHostReadsTheVictimsCiphertextThroughTheAlias) {
  const Bytes secret(kFrameSize, 0x42);
  mc.write(kVictim, secret, keyed(1));
  const Bytes through_alias = read(kAlias, kHostAccess);
  EXPECT_NE(through_alias, secret);                      // ciphertext, never plaintext
  EXPECT_EQ(through_alias, read(kVictim, kHostAccess));  // the very cells of the victim
  Bytes expected(kFrameSize);  // tweaked by the victim's address: it was written there
  crypto::suite(suite()).new_xts(vek)->encrypt_unit(crypto::plain64_tweak(kVictim / kFrameSize),
                                                    secret, expected);
  EXPECT_EQ(through_alias, expected);
  // The alias has its own tag (free host memory) and so its own guard: nothing blocks it.
  EXPECT_EQ(mc.tag(kAlias), FrameTag{});
  // A keyed access through the alias decrypts with the alias's tweak: garbage.
  EXPECT_NE(read(kAlias, keyed(1)), secret);
  // Never mapped directly: the alias's cells are kept as the victim's tag says.
  EXPECT_EQ(mc.direct_frame(kAlias, kHostAccess, false), nullptr);
  EXPECT_EQ(mc.device_frame(kAlias, kHostAccess), nullptr);
}

TEST_P(AliasForSuite, ReplayingCiphertextThroughTheAliasRollsTheVictimBack) {
  const Bytes v1(kFrameSize, 0x11), v2(kFrameSize, 0x22);
  mc.write(kVictim, v1, keyed(1));
  const Bytes snapshot = read(kAlias, kHostAccess);
  mc.write(kVictim, v2, keyed(1));
  std::vector<std::uint64_t> told;
  (void)mc.add_write_observer([&](std::uint64_t hpa, std::uint64_t) { told.push_back(hpa); });
  mc.write(kAlias, snapshot, kHostAccess);
  EXPECT_EQ(read(kVictim, keyed(1)), v1);  // the victim reads its old plaintext
  // Whoever watches the victim's frame (translated code, cached views) hears of it.
  EXPECT_NE(std::find(told.begin(), told.end(), kVictim), told.end());
  // A partial write through the alias garbles only the blocks it touches, as anywhere.
  mc.write(kAlias + 32, Bytes(16, 0), kHostAccess);
  const Bytes after = read(kVictim, keyed(1));
  EXPECT_TRUE(std::equal(after.begin(), after.begin() + 32, v1.begin()));
  EXPECT_FALSE(std::equal(after.begin() + 32, after.begin() + 48, v1.begin()));
}

TEST_P(AliasForSuite, TagsAndKeysOfTheAliasNeverReencodeTheCells) {
  const Bytes secret(kFrameSize, 0x42);
  mc.write(kVictim, secret, keyed(1));
  // Tagging the alias frame (as a PSP unaware of the alias might) leaves the cells alone.
  mc.set_tag(test_passkey(), kAlias, {1, 1, FrameUse::guest, FrameGuard::none});
  EXPECT_EQ(read(kVictim, keyed(1)), secret);
  mc.set_tag(test_passkey(), kAlias, FrameTag{});
  EXPECT_EQ(read(kVictim, keyed(1)), secret);
  // Clearing the key turns the cells into raw ciphertext, seen the same through both.
  const Bytes dram = read(kVictim, kHostAccess);
  mc.clear_key(test_passkey(), 1);
  EXPECT_EQ(read(kVictim, kHostAccess), dram);
  EXPECT_EQ(read(kAlias, kHostAccess), dram);
}

TEST_P(AliasForSuite, ScrubbingThroughTheAliasShowsZerosThroughTheAlias) {
  mc.write(kVictim, Bytes(kFrameSize, 0x42), keyed(1));
  mc.set_tag_zeroed(test_passkey(), kAlias, FrameTag{});
  EXPECT_EQ(read(kAlias, kHostAccess), Bytes(kFrameSize, 0));
  EXPECT_EQ(read(kVictim, kHostAccess), Bytes(kFrameSize, 0));  // the same cells
}

INSTANTIATE_TEST_SUITE_P(FastAndStrict, AliasForSuite,
                         ::testing::Combine(::testing::Values(SuiteId::sm, SuiteId::nist),
                                            ::testing::Bool()));

}  // namespace
}  // namespace cvmsim::hw
