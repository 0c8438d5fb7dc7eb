#include "measure/policy.h"

#include <gtest/gtest.h>

#include "measure/measure_error.h"

namespace cvmsim::measure {
namespace {

TEST(Policy, DefaultsAreTheSafeOnes) {
  const Policy p;
  EXPECT_TRUE(p.memory_encryption);
  EXPECT_FALSE(p.debug);
  EXPECT_EQ(p.guard, GuardMode::detect);
  EXPECT_EQ(p.npt_integrity, NptIntegrity::merkle);
  EXPECT_EQ(p.encode(), 0x502u);  // bits 1, 8 and 10 (docs/formats.md)
}

TEST(Policy, EncodeDecodeAndTextRoundTrip) {
  for (GuardMode g : {GuardMode::off, GuardMode::detect, GuardMode::isolate}) {
    for (NptIntegrity i : {NptIntegrity::full, NptIntegrity::merkle}) {
      for (bool enc : {false, true}) {
        Policy p;
        p.guard = g;
        p.npt_integrity = i;
        p.memory_encryption = enc;
        p.debug = !enc;
        EXPECT_EQ(Policy::decode(p.encode(), "t"), p);
        EXPECT_EQ(Policy::parse(p.to_string()), p);
      }
    }
  }
  EXPECT_EQ(Policy::parse("guard=isolate").guard, GuardMode::isolate);
  EXPECT_EQ(Policy::parse("").encode(), Policy{}.encode());
}

TEST(Policy, MemoryProtectionsAreBitsTwoAndThreeAndNeedEncryption) {
  const Policy p = Policy::parse("memory-integrity=on,ciphertext-hiding=on");
  EXPECT_TRUE(p.memory_integrity);
  EXPECT_TRUE(p.ciphertext_hiding);
  EXPECT_EQ(p.encode(), 0x502u | 0x4u | 0x8u);  // docs/formats.md, "Policy"
  EXPECT_EQ(Policy::decode(0x506, "t"), Policy::parse("memory-integrity=on"));
  EXPECT_EQ(p.to_string(),
            "guard=detect,integrity=merkle,memory-encryption=on,debug=off,memory-integrity=on,"
            "ciphertext-hiding=on");
  EXPECT_EQ(Policy::parse(p.to_string()), p);
  // Off, they leave the text as it was before they existed.
  EXPECT_EQ(Policy{}.to_string(), "guard=detect,integrity=merkle,memory-encryption=on,debug=off");
  // They protect the VM's key slot: without memory encryption there is none.
  EXPECT_THROW((void)Policy::parse("memory-encryption=off,memory-integrity=on"), MeasureError);
  EXPECT_THROW((void)Policy::parse("memory-encryption=off,ciphertext-hiding=on"), MeasureError);
  EXPECT_THROW((void)Policy::decode(0x500 | 0x8, "t"), MeasureError);
  EXPECT_EQ(protection_bit("memory-integrity"), 0x4u);
  EXPECT_EQ(protection_bit("ciphertext-hiding"), 0x8u);
  EXPECT_EQ(protection_bit("debug"), std::nullopt);
  EXPECT_EQ(protection_names(0xc | 0x400), "memory-integrity, ciphertext-hiding");
  EXPECT_EQ(protection_names(0x400), "");
}

TEST(Policy, RefusesUnknownBitsAndWords) {
  EXPECT_THROW((void)Policy::decode(1ull << 40, "ref"), MeasureError);
  EXPECT_THROW((void)Policy::decode(3ull << 8, "ref"), MeasureError);
  for (const char* bad :
       {"guard=maybe", "integrity=sha1", "debug=perhaps", "colour=red", "guard"}) {
    try {
      (void)Policy::parse(bad);
      FAIL() << bad;
    } catch (const MeasureError& e) {
      EXPECT_EQ(e.code(), MeasureErrc::bad_policy);
    }
  }
}

}  // namespace
}  // namespace cvmsim::measure
