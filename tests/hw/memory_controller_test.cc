// The memory encryption engine: who sees what, replay, key changes, guards, and the
// differential test of the fast representation against the strict model.
#include "hw/memory_controller.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "crypto/suite.h"
#include "hw/hw_error.h"
#include "hw_test_access.h"

namespace cvmsim::hw {
namespace {

using crypto::SuiteId;

PspPasskey psp() {
  return HardwareTestAccess::passkey();
}

Requester guest(std::uint32_t asid) {
  return keyed(asid);
}

class EngineForSuite : public ::testing::TestWithParam<SuiteId> {
 protected:
  HostMemory memory{64 * kChunkSize};
  MemoryController mc{memory, GetParam()};
  Bytes vek1 = crypto::random_bytes(crypto::suite(GetParam()).xts_key_size());
  Bytes vek2 = crypto::random_bytes(crypto::suite(GetParam()).xts_key_size());

  void own(std::uint64_t hpa, std::uint32_t asid) {
    mc.set_tag(psp(), hpa, {asid, asid, FrameUse::guest, FrameGuard::none});
  }
};

TEST_P(EngineForSuite, OwnerSeesPlaintextHostSeesXtsCiphertext) {
  mc.load_key(psp(), 1, vek1);
  own(0x10000, 1);
  const Bytes secret(kFrameSize, 0x42);
  mc.write(0x10000, secret, guest(1));
  Bytes back(kFrameSize);
  mc.read(0x10000, back, guest(1));
  EXPECT_EQ(back, secret);
  Bytes seen(kFrameSize);
  mc.read(0x10000, seen, kHostAccess);
  // Exactly the XTS encryption under the VEK with the frame number as tweak.
  Bytes expected(kFrameSize);
  crypto::suite(GetParam())
      .new_xts(vek1)
      ->encrypt_unit(crypto::plain64_tweak(0x10), secret, expected);
  EXPECT_EQ(seen, expected);
  // The same plaintext in another frame encrypts differently (address tweak).
  own(0x11000, 1);
  mc.write(0x11000, secret, guest(1));
  Bytes other(kFrameSize);
  mc.read(0x11000, other, kHostAccess);
  EXPECT_NE(other, seen);
}

TEST_P(EngineForSuite, RetaggingZeroedGivesTheNewOwnerZerosWhateverTheFrameHeld) {
  mc.load_key(psp(), 1, vek1);
  mc.write(0x20000, Bytes(kFrameSize, 0x77), kHostAccess);  // the VMM's leftovers
  mc.set_tag_zeroed(psp(), 0x20000, {1, 1, FrameUse::guest, FrameGuard::none});
  EXPECT_EQ(mc.tag(0x20000), (FrameTag{1, 1, FrameUse::guest, FrameGuard::none}));
  Bytes back(kFrameSize, 0xff);
  mc.read(0x20000, back, guest(1));
  EXPECT_EQ(back, Bytes(kFrameSize, 0));
  // The host now sees the encryption of zeros under the VEK, as after set_tag + write.
  Bytes seen(kFrameSize);
  mc.read(0x20000, seen, kHostAccess);
  Bytes expected(kFrameSize);
  crypto::suite(GetParam())
      .new_xts(vek1)
      ->encrypt_unit(crypto::plain64_tweak(0x20), Bytes(kFrameSize, 0), expected);
  EXPECT_EQ(seen, expected);
  // A slot without a key is refused, and the frame is left as it was.
  EXPECT_THROW(mc.set_tag_zeroed(psp(), 0x20000, {2, 2, FrameUse::guest, FrameGuard::none}),
               HwError);
  EXPECT_EQ(mc.tag(0x20000).asid, 1u);
}

TEST_P(EngineForSuite, ZeroingInPlaceReadsAsReleasingButKeepsTheFramesResident) {
  // Two runs of 3 frames with the same leftovers, scrubbed for the same slot both ways.
  mc.load_key(psp(), 1, vek1);
  const std::uint64_t released = 0x40000;
  const std::uint64_t in_place = 0x80000;
  mc.write(released, Bytes(3 * kFrameSize, 0x77), kHostAccess);
  mc.write(in_place, Bytes(3 * kFrameSize, 0x77), kHostAccess);
  const std::uint64_t resident = memory.resident_bytes();
  const FrameTag tag{1, 1, FrameUse::guest, FrameGuard::none};
  mc.set_tag_zeroed(psp(), released, tag, 3, Zeroing::release);
  EXPECT_EQ(memory.resident_bytes(), resident - 3 * kFrameSize);  // handed back
  mc.set_tag_zeroed(psp(), in_place, tag, 3, Zeroing::in_place);
  EXPECT_EQ(memory.resident_bytes(), resident - 3 * kFrameSize);  // kept
  for (std::uint64_t i = 0; i < 3; ++i) {
    const std::uint64_t offset = i * kFrameSize;
    EXPECT_EQ(mc.tag(in_place + offset), tag);
    Bytes zeros(kFrameSize, 0xff);
    mc.read(in_place + offset, zeros, guest(1));
    EXPECT_EQ(zeros, Bytes(kFrameSize, 0)) << i;
    // The host sees each frame's own encryption of zeros, both ways (the tweak differs).
    Bytes a(kFrameSize);
    Bytes b(kFrameSize);
    mc.read(released + offset, a, kHostAccess);
    mc.read(in_place + offset, b, kHostAccess);
    Bytes expected_a(kFrameSize);
    Bytes expected_b(kFrameSize);
    const auto xts = crypto::suite(GetParam()).new_xts(vek1);
    xts->encrypt_unit(crypto::plain64_tweak((released + offset) / kFrameSize), Bytes(kFrameSize, 0),
                      expected_a);
    xts->encrypt_unit(crypto::plain64_tweak((in_place + offset) / kFrameSize), Bytes(kFrameSize, 0),
                      expected_b);
    EXPECT_EQ(a, expected_a) << i;
    EXPECT_EQ(b, expected_b) << i;
  }
}

TEST_P(EngineForSuite, ARunRetaggedZeroedAcrossAChunkBoundaryIsZerosInEveryFrame) {
  mc.load_key(psp(), 1, vek1);
  const std::uint64_t first = kChunkSize - 2 * kFrameSize;  // two frames each side
  mc.write(first, Bytes(4 * kFrameSize, 0x77), kHostAccess);
  mc.set_tag_zeroed(psp(), first, {1, 1, FrameUse::guest, FrameGuard::none}, 4);
  for (std::uint64_t f = first; f < first + 4 * kFrameSize; f += kFrameSize) {
    EXPECT_EQ(mc.tag(f), (FrameTag{1, 1, FrameUse::guest, FrameGuard::none})) << f;
    Bytes back(kFrameSize, 0xff);
    mc.read(f, back, guest(1));
    EXPECT_EQ(back, Bytes(kFrameSize, 0)) << f;
  }
  EXPECT_EQ(mc.tag(first + 4 * kFrameSize).asid, 0u);  // the frame after the run is untouched
}

TEST_P(EngineForSuite, AnotherVmSeesGarbageAndNonOwnerWritesGarbleOnlyTheirBlocks) {
  mc.load_key(psp(), 1, vek1);
  mc.load_key(psp(), 2, vek2);
  own(0x20000, 1);
  const Bytes secret(kFrameSize, 0x17);
  mc.write(0x20000, secret, guest(1));
  Bytes stolen(kFrameSize);
  mc.read(0x20000, stolen, guest(2));
  EXPECT_NE(stolen, secret);
  // The host overwrites 8 bytes at offset 100: the owner sees one 16-byte block garbled.
  mc.write(0x20000 + 100, Bytes(8, 0), kHostAccess);
  Bytes after(kFrameSize);
  mc.read(0x20000, after, guest(1));
  for (std::size_t i = 0; i < kFrameSize; ++i) {
    if (i >= 96 && i < 112) continue;
    ASSERT_EQ(after[i], secret[i]) << i;
  }
  EXPECT_NE(Bytes(after.begin() + 96, after.begin() + 112), Bytes(16, 0x17));
}

TEST_P(EngineForSuite, ReplayingOldCiphertextRestoresOldPlaintext) {
  mc.load_key(psp(), 1, vek1);
  own(0x30000, 1);
  mc.write(0x30000, Bytes(kFrameSize, 1), guest(1));
  Bytes snapshot(kFrameSize);
  mc.read(0x30000, snapshot, kHostAccess);
  mc.write(0x30000, Bytes(kFrameSize, 2), guest(1));
  mc.write(0x30000, snapshot, kHostAccess);  // the VMM replays the old ciphertext
  Bytes now(kFrameSize);
  mc.read(0x30000, now, guest(1));
  EXPECT_EQ(now, Bytes(kFrameSize, 1));
}

TEST_P(EngineForSuite, NewKeyInAReusedSlotCannotReadTheOldData) {
  mc.load_key(psp(), 3, vek1);
  own(0x40000, 3);
  mc.write(0x40000, Bytes(kFrameSize, 0x99), guest(3));
  Bytes before(kFrameSize);
  mc.read(0x40000, before, kHostAccess);
  mc.load_key(psp(), 3, vek2);  // the slot is reused with a fresh key
  Bytes dram(kFrameSize);
  mc.read(0x40000, dram, kHostAccess);
  EXPECT_EQ(dram, before);  // DRAM did not change
  Bytes seen(kFrameSize);
  mc.read(0x40000, seen, guest(3));
  EXPECT_NE(seen, Bytes(kFrameSize, 0x99));
}

TEST_P(EngineForSuite, GuardsBlockEveryoneButThePsp) {
  mc.set_tag(psp(), 0x50000, {0, 0, FrameUse::psp, FrameGuard::no_access});
  mc.set_tag(psp(), 0x51000, {0, 1, FrameUse::npt, FrameGuard::write_blocked});
  Bytes b(8);
  EXPECT_THROW(mc.read(0x50000, b, kHostAccess), HwError);
  EXPECT_THROW(mc.write(0x50000, b, Requester::dma()), HwError);
  EXPECT_NO_THROW(mc.read(0x51000, b, kHostAccess));
  try {
    mc.write(0x51000, b, kHostAccess);
    FAIL();
  } catch (const HwError& e) {
    EXPECT_EQ(e.code(), HwErrc::access_denied);
  }
  EXPECT_NO_THROW(mc.write(0x51000, b, psp_access()));
  EXPECT_EQ(mc.direct_frame(0x51000, kHostAccess, true), nullptr);
  EXPECT_NE(mc.direct_frame(0x51000, kHostAccess, false), nullptr);
}

// SEV-SNP's RMP write check: the slot's own key and the PSP write, nobody else does, and
// the replay that ReplayingOldCiphertextRestoresOldPlaintext performs is refused.
TEST_P(EngineForSuite, MemoryIntegrityRefusesForeignWritesAndTheReplay) {
  mc.load_key(psp(), 1, vek1, {.refuse_foreign_writes = true});
  mc.load_key(psp(), 2, vek2);
  own(0x30000, 1);
  mc.write(0x30000, Bytes(kFrameSize, 1), guest(1));
  Bytes snapshot(kFrameSize);
  mc.read(0x30000, snapshot, kHostAccess);  // reads still show ciphertext
  EXPECT_NE(snapshot, Bytes(kFrameSize, 1));
  mc.write(0x30000, Bytes(kFrameSize, 2), guest(1));
  for (const Requester who :
       {kHostAccess, Requester::dma(), keyed(0), keyed(2), keyed(2, Initiator::dma)}) {
    try {
      mc.write(0x30000, snapshot, who);
      ADD_FAILURE() << "a foreign write went through";
    } catch (const HwError& e) {
      EXPECT_EQ(e.code(), HwErrc::access_denied);
      EXPECT_NE(std::string(e.what()).find("memory-integrity"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)mc.device_frame(0x30000, who), HwError);
  }
  Bytes now(kFrameSize);
  mc.read(0x30000, now, guest(1));
  EXPECT_EQ(now, Bytes(kFrameSize, 2));  // the replay did not land
  EXPECT_NO_THROW(mc.write(0x30000, Bytes(8, 3), keyed(1, Initiator::dma)));
  EXPECT_NO_THROW(mc.write(0x30000, Bytes(8, 4), psp_access()));
  EXPECT_NE(mc.device_frame(0x30000, keyed(1, Initiator::dma)), nullptr);
  // A foreign vCPU cannot take the frame into its own slot either (the conversion of
  // frames a guard-off VM first touches).
  EXPECT_EQ(mc.direct_frame(0x30000, keyed(2), true), nullptr);
  EXPECT_EQ(mc.tag(0x30000).asid, 1u);
}

TEST_P(EngineForSuite, MemoryIntegrityEndsWithTheFramesOwnership) {
  mc.load_key(psp(), 1, vek1, {.refuse_foreign_writes = true});
  own(0x30000, 1);
  own(0x31000, 1);
  EXPECT_THROW(mc.write(0x30000, Bytes(8, 1), kHostAccess), HwError);
  mc.set_tag_zeroed(psp(), 0x30000, FrameTag{});  // handed back to the host
  EXPECT_NO_THROW(mc.write(0x30000, Bytes(8, 1), kHostAccess));
  mc.clear_key(psp(), 1);  // DECOMMISSION: the slot's frames are raw ciphertext now
  EXPECT_NO_THROW(mc.write(0x31000, Bytes(8, 1), kHostAccess));
  mc.load_key(psp(), 1, vek2);  // a reused slot without the policy
  own(0x31000, 1);
  EXPECT_NO_THROW(mc.write(0x31000, Bytes(8, 1), kHostAccess));
  EXPECT_EQ(mc.protection(1), SlotProtection{});
}

// Ciphertext hiding: foreign reads see the fixed pattern, so the equality of two
// ciphertexts (CipherLeaks) says nothing; the owner and keyed DMA read as before.
TEST_P(EngineForSuite, CiphertextHidingShowsForeignReadersAFixedPattern) {
  mc.load_key(psp(), 1, vek1, {.hide_ciphertext = true});
  mc.load_key(psp(), 2, vek2);
  own(0x30000, 1);
  mc.write(0x30000, Bytes(kFrameSize, 7), guest(1));
  const Bytes hidden(100, kHiddenCiphertextByte);
  for (const Requester who : {kHostAccess, Requester::dma(), keyed(0), keyed(2)}) {
    Bytes seen(100);
    mc.read(0x30010, seen, who);
    EXPECT_EQ(seen, hidden);
  }
  Bytes mine(kFrameSize);
  mc.read(0x30000, mine, keyed(1, Initiator::dma));
  EXPECT_EQ(mine, Bytes(kFrameSize, 7));
  mc.read(0x30000, mine, psp_access(1));
  EXPECT_EQ(mine, Bytes(kFrameSize, 7));
  // Without integrity the host may still write (and garble) the frame.
  EXPECT_NO_THROW(mc.write(0x30000, Bytes(16, 0), kHostAccess));
  mc.read(0x30000, mine, guest(1));
  EXPECT_NE(Bytes(mine.begin(), mine.begin() + 16), Bytes(16, 7));
  mc.clear_key(psp(), 1);
  Bytes raw(16);
  mc.read(0x30000, raw, kHostAccess);  // the frame is the host's: its bytes show again
  EXPECT_NE(raw, Bytes(16, kHiddenCiphertextByte));
}

INSTANTIATE_TEST_SUITE_P(Suites, EngineForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

// Random operation sequences against both representations: every observation (reads by
// every kind of requester, refusals and their codes, the final DRAM) must be identical.
// Accesses may span two frames; tags carry random guards; keys are loaded and cleared, with
// random slot protections (memory integrity, ciphertext hiding).
TEST(EngineDifferential, FastRepresentationMatchesStrictModel) {
  for (SuiteId suite : {SuiteId::sm, SuiteId::nist}) {
    HostMemory fast_memory(4 * kChunkSize);
    HostMemory strict_memory(4 * kChunkSize);
    MemoryController fast(fast_memory, suite, false);
    MemoryController strict(strict_memory, suite, true);
    std::mt19937_64 rng(suite == SuiteId::sm ? 1 : 2);
    const std::size_t key_size = crypto::suite(suite).xts_key_size();
    constexpr std::uint32_t kAsids = 4;
    constexpr std::uint64_t kFrames = 6;
    // Runs `op` on both controllers; both must succeed, or fail with the same code.
    const auto both = [&](int step, const auto& op) {
      std::optional<HwErrc> fast_error;
      std::optional<HwErrc> strict_error;
      try {
        op(fast);
      } catch (const HwError& e) {
        fast_error = e.code();
      }
      try {
        op(strict);
      } catch (const HwError& e) {
        strict_error = e.code();
      }
      ASSERT_EQ(fast_error, strict_error) << "step " << step;
    };
    std::size_t refusals = 0;
    std::size_t integrity_refusals = 0;
    std::size_t hidden_reads = 0;
    for (int step = 0; step < 4000; ++step) {
      const std::uint64_t frame = (rng() % kFrames) * kFrameSize + 0x100000;
      const auto asid = static_cast<std::uint32_t>(rng() % kAsids);
      const auto slot = fast.has_key(asid) ? asid : 0;
      Requester who = kHostAccess;
      switch (rng() % 4) {
        case 0:
          who = keyed(slot, Initiator::guest_cpu);
          break;
        case 1:
          who = keyed(slot, Initiator::dma);
          break;
        case 2:
          who = psp_access(slot);
          break;
        default:
          break;
      }
      const std::size_t offset = rng() % kFrameSize;
      switch (rng() % 10) {
        case 0: {  // (re)load a key
          if (asid == 0) break;
          const Bytes key = crypto::random_bytes(key_size);
          const SlotProtection protection{.refuse_foreign_writes = rng() % 2 == 0,
                                          .hide_ciphertext = rng() % 2 == 0};
          fast.load_key(psp(), asid, key, protection);
          strict.load_key(psp(), asid, key, protection);
          break;
        }
        case 1: {  // clear a key (the frames it kept become raw ciphertext)
          fast.clear_key(psp(), asid);
          strict.clear_key(psp(), asid);
          break;
        }
        case 2: {  // re-tag a frame, sometimes guarded
          if (slot != asid) break;
          const auto guard = static_cast<FrameGuard>(rng() % 5 == 0 ? 1 + rng() % 2 : 0);
          const FrameTag t{asid, asid, FrameUse::guest, guard};
          if (rng() % 2 == 0) {
            fast.set_tag(psp(), frame, t);
            strict.set_tag(psp(), frame, t);
          } else {  // re-tag and scrub in one step: zeros under the new slot, either way
            const Zeroing how = rng() % 2 == 0 ? Zeroing::release : Zeroing::in_place;
            fast.set_tag_zeroed(psp(), frame, t, 1, how);
            strict.set_tag_zeroed(psp(), frame, t, 1, how);
          }
          break;
        }
        case 3:
        case 4:
        case 5: {  // write, possibly into the next frame
          const Bytes data = crypto::random_bytes(1 + rng() % 300);
          const FrameTag t = fast.tag(frame);
          if (fast.protection(t.asid).refuse_foreign_writes && who.key_asid() != t.asid &&
              who.who() != Initiator::psp) {
            ++integrity_refusals;
          }
          both(step, [&](MemoryController& mc) { mc.write(frame + offset, data, who); });
          break;
        }
        default: {  // read, possibly into the next frame
          const std::size_t length = 1 + rng() % kFrameSize;
          Bytes a(length);
          Bytes b(length);
          both(step, [&](MemoryController& mc) {
            mc.read(frame + offset, &mc == &fast ? MutableByteView(a) : MutableByteView(b), who);
          });
          if (HasFatalFailure()) return;
          ASSERT_EQ(a, b) << "step " << step;
          if (a.size() > 1 && a == Bytes(a.size(), kHiddenCiphertextByte)) ++hidden_reads;
        }
      }
      if (HasFatalFailure()) return;
      try {
        Bytes probe(1);
        fast.read(frame, probe, who);
      } catch (const HwError&) {
        ++refusals;
      }
    }
    EXPECT_GT(refusals, 0u);            // the guards were exercised
    EXPECT_GT(integrity_refusals, 0u);  // and the slot protections
    EXPECT_GT(hidden_reads, 0u);
    for (std::uint64_t f = 0; f <= kFrames; ++f) {
      Bytes a(kFrameSize);
      Bytes b(kFrameSize);
      fast.read(0x100000 + f * kFrameSize, a, psp_access());
      strict.read(0x100000 + f * kFrameSize, b, psp_access());
      ASSERT_EQ(a, b) << "DRAM of frame " << f;
    }
  }
}

}  // namespace
}  // namespace cvmsim::hw
