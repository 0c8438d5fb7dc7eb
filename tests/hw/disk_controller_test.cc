// The disk controller: keyslots bound to a port and an ASID, the crypto coprocessor on the
// DMA path, the memory side through the memory controller, one interrupt per transfer.
#include "hw/disk/disk_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <type_traits>

#include "common/file_io.h"
#include "crypto/sector_tags.h"
#include "crypto/suite.h"
#include "hw/hw_error.h"
#include "hw/hw_test_access.h"
#include "support/temp_dir.h"

namespace cvmsim::hw {
namespace {

using crypto::SuiteId;

// The VMM cannot program a keyslot or start a transfer: both take a PspPasskey, which VMM
// code cannot construct (so `{}` does not convert), and there is no overload without one.
// Checked as this file compiles: adding a way in without the passkey breaks the build.
template <class Controller>
concept UsableByThePsp = requires(Controller& c, PspPasskey key, const DiskKeyslot& k,
                                  const DmaDescriptor& d) {
  c.program_keyslot(key, 0U, k);
  c.run_dma(key, 0U, d);
};
template <class Controller>
concept UsableWithoutThePsp = requires(Controller& c, const DiskKeyslot& k) {
  c.program_keyslot({}, 0U, k);
}
|| requires(Controller& c, const DiskKeyslot& k) {
  c.program_keyslot(0U, k);
}
|| requires(Controller& c, const DmaDescriptor& d) {
  c.run_dma({}, 0U, d);
}
|| requires(Controller& c, const DmaDescriptor& d) {
  c.run_dma(0U, d);
};
static_assert(!std::is_default_constructible_v<PspPasskey>);
static_assert(UsableByThePsp<DiskController> && !UsableWithoutThePsp<DiskController>);

constexpr std::uint64_t kSegment = 64 * 1024;  // data segment offset in the file
constexpr std::uint64_t kSectors = 64;
constexpr std::uint32_t kAsid = 3;
constexpr std::uint64_t kTag = crypto::kSectorTagSize;

struct Rig {
  // `tagged`: an authenticated image, its tags right after the data segment.
  explicit Rig(SuiteId s = SuiteId::sm, std::uint32_t sector = 4096,
               std::uint64_t sectors = kSectors, bool strict_memory = false, bool tagged = false)
      : suite(s), sector_size(sector), strict(strict_memory) {
    key = crypto::random_bytes(crypto::suite(suite).xts_key_size());
    plain = crypto::random_bytes(sectors * sector_size);
    Bytes file(kSegment, 0x5a);  // a "header" area
    Bytes cipher(plain.size());
    crypto::suite(suite).new_xts(key)->encrypt_units(0, sector_size, plain, cipher);
    file.insert(file.end(), cipher.begin(), cipher.end());
    std::optional<std::uint64_t> tag_offset;
    if (tagged) {
      tag_offset = file.size();
      Bytes tags(sectors * crypto::kSectorTagSize);
      crypto::SectorTagger(suite, key).tag_units(0, sector_size, cipher, tags);
      file.insert(file.end(), tags.begin(), tags.end());
    }
    write_file_atomic(dir / "disk.img", file);
    mc.load_key(test_passkey(), kAsid, crypto::random_bytes(crypto::suite(suite).xts_key_size()));
    port = disks.attach(dir / "disk.img", true);
    keyslot = {suite, key, sector_size, kSegment, sectors * sector_size, port, kAsid, tag_offset};
    disks.program_keyslot(test_passkey(), 5, keyslot);
    for (std::uint64_t i = 0; i < std::max<std::uint64_t>(16, plain.size() / kFrameSize); ++i) {
      const std::uint64_t hpa = (64 + i) * kFrameSize;
      mc.set_tag(test_passkey(), hpa, {kAsid, 1, FrameUse::guest, FrameGuard::none});
      frames.push_back(hpa);
    }
  }
  DmaDescriptor read(std::uint64_t sector, std::uint64_t bytes) const {
    DmaDescriptor d;
    d.port = port;
    d.keyslot = 5;
    d.start = sector;
    d.length = bytes;
    d.frames.assign(frames.begin(),
                    frames.begin() + static_cast<std::ptrdiff_t>((bytes + 4095) / 4096));
    d.memory = keyed(kAsid, Initiator::dma);
    return d;
  }
  // What the guest sees of the transfer's frames, through the VM's key.
  Bytes seen(std::uint64_t bytes) {
    Bytes out(bytes);
    for (std::uint64_t at = 0; at < bytes; at += kFrameSize) {
      mc.read(frames[at / kFrameSize], MutableByteView(out).subspan(at, kFrameSize), keyed(kAsid));
    }
    return out;
  }
  Bytes plain_sectors(std::uint64_t sector, std::uint64_t bytes) const {
    const auto begin = plain.begin() + static_cast<std::ptrdiff_t>(sector * sector_size);
    return {begin, begin + static_cast<std::ptrdiff_t>(bytes)};
  }
  SuiteId suite;
  std::uint32_t sector_size;
  bool strict;
  test::TempDir dir;
  HostMemory memory{1ull << 30};
  MemoryController mc{memory, suite, strict};
  DiskController disks{mc};
  std::uint32_t port = 0;
  DiskKeyslot keyslot;
  Bytes key, plain;
  std::vector<std::uint64_t> frames;
  // The interrupts the controller raised so far, collected as the host's interrupt
  // controller does.
  std::size_t interrupts() {
    for (const DiskInterrupt& i : disks.take_interrupts()) raised.push_back(i);
    return raised.size();
  }
  std::vector<DiskInterrupt> raised;
};

class DiskForSuite : public ::testing::TestWithParam<std::pair<SuiteId, std::uint32_t>> {};

TEST_P(DiskForSuite, ReadsDecryptIntoTheVmsKeyAndWritesEncryptToTheImage) {
  Rig rig(GetParam().first, GetParam().second);
  const std::uint32_t ss = rig.sector_size;
  const std::uint64_t first = 3, count = 8192 / ss;
  ASSERT_TRUE(rig.disks.run_dma(test_passkey(), 1, rig.read(first, 8192)).ok());
  ASSERT_EQ(rig.interrupts(), 1u);
  EXPECT_EQ(rig.raised[0], (DiskInterrupt{rig.port, 1}));
  // Through the VM's key the guest sees the plaintext sectors ...
  Bytes seen(8192);
  rig.mc.read(rig.frames[0], MutableByteView(seen).first(4096), keyed(kAsid));
  rig.mc.read(rig.frames[1], MutableByteView(seen).subspan(4096), keyed(kAsid));
  EXPECT_EQ(seen, Bytes(rig.plain.begin() + static_cast<std::ptrdiff_t>(first * ss),
                        rig.plain.begin() + static_cast<std::ptrdiff_t>((first + count) * ss)));
  // ... the host sees neither the plaintext nor the image's ciphertext.
  Bytes host(4096);
  rig.mc.read(rig.frames[0], host, kHostAccess);
  EXPECT_NE(host, Bytes(seen.begin(), seen.begin() + 4096));

  // Write new data from guest memory: the file gets the image-key encryption of it.
  const Bytes fresh = crypto::random_bytes(4096);
  rig.mc.write(rig.frames[2], fresh, keyed(kAsid));
  DmaDescriptor w = rig.read(10, 4096);
  w.direction = DmaDirection::to_disk;
  w.frames = {rig.frames[2]};
  ASSERT_TRUE(rig.disks.run_dma(test_passkey(), 2, w).ok());
  Bytes stored(4096);
  rig.disks.backing(rig.port).read_at(kSegment + 10 * ss, stored);
  Bytes expected(4096);
  crypto::suite(rig.suite).new_xts(rig.key)->encrypt_units(10, ss, fresh, expected);
  EXPECT_EQ(stored, expected);
  EXPECT_EQ(rig.interrupts(), 2u);
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, DiskForSuite,
                         ::testing::Values(std::pair{SuiteId::sm, 4096u},
                                           std::pair{SuiteId::sm, 512u},
                                           std::pair{SuiteId::nist, 4096u},
                                           std::pair{SuiteId::nist, 512u}));

// The crypto coprocessor decrypts straight into guest frames where the memory controller
// keeps them as plaintext under the VM's key, and goes through write() where it does not
// (strict mode; a frame kept under another key slot). Both must give what write() gives,
// on one core (small transfers) and on two (from 64 frames), and the memory controller's
// write observers (the guest CPU drops code translated from those bytes) hear of every
// frame filled.
TEST(DiskController, DecryptsIntoGuestFramesAsMemoryWritesWould) {
  for (const bool strict : {false, true}) {
    for (const SuiteId suite : {SuiteId::sm, SuiteId::nist}) {
      SCOPED_TRACE(::testing::Message() << "strict " << strict << " suite " << to_string(suite));
      Rig rig(suite, 512, 1040, strict);  // 520 KiB: 130 frames
      // One frame is plain host memory: the DMA through the VM's key converts it (and a
      // neighbour run breaks there).
      rig.mc.set_tag(test_passkey(), rig.frames[70], {});
      std::vector<std::pair<std::uint64_t, std::uint64_t>> reported;
      rig.mc.add_write_observer(
          [&](std::uint64_t hpa, std::uint64_t length) { reported.emplace_back(hpa, length); });
      for (const std::uint64_t bytes : {std::uint64_t{8192}, std::uint64_t{512} << 10}) {
        reported.clear();
        ASSERT_TRUE(rig.disks.run_dma(test_passkey(), 1, rig.read(8, bytes)).ok());
        EXPECT_EQ(rig.seen(bytes), rig.plain_sectors(8, bytes)) << bytes;
        std::vector<bool> covered(bytes / kFrameSize);
        for (const auto& [hpa, length] : reported) {
          for (std::uint64_t at = hpa; at < hpa + length; at += kFrameSize) {
            const auto it = std::find(rig.frames.begin(), rig.frames.end(), at);
            ASSERT_NE(it, rig.frames.end());
            covered[static_cast<std::size_t>(it - rig.frames.begin())] = true;
          }
        }
        EXPECT_EQ(std::count(covered.begin(), covered.end(), true),
                  static_cast<std::ptrdiff_t>(covered.size()))
            << bytes;
      }
    }
  }
}

// A frame whose guard refuses the DMA engine fails the transfer before any frame is
// written, on both paths.
TEST(DiskController, AGuardedFrameFailsTheTransferBeforeAnythingIsWritten) {
  Rig rig(SuiteId::nist, 4096, 128);
  rig.mc.set_tag(test_passkey(), rig.frames[100],
                 {kAsid, 1, FrameUse::npt, FrameGuard::write_blocked});
  const Bytes before = rig.seen(64 * kFrameSize);
  EXPECT_EQ(rig.disks.run_dma(test_passkey(), 1, rig.read(0, 128 * kFrameSize)).fault,
            DmaFault::frame_refused);
  EXPECT_EQ(rig.seen(64 * kFrameSize), before);
}

// Every rule is checked in one place: run_dma refuses with the fault that check() (what the
// PSP asks before it starts a transfer) gives for the descriptor's file side, and still
// raises the interrupt.
TEST(DiskController, RefusesDescriptorsTheKeyslotDoesNotAllowAndRaisesTheInterruptAnyway) {
  Rig rig;
  const Bytes before = read_file(rig.dir / "disk.img");
  auto expect_refused = [&](const DmaDescriptor& d, DmaFault fault, const char* what) {
    const std::size_t interrupts = rig.interrupts();
    const DmaCompletion c = rig.disks.run_dma(test_passkey(), 9, d);
    EXPECT_EQ(c.fault, fault) << what << ": " << to_string(c.fault);
    EXPECT_EQ(c.bytes, 0u) << what;
    EXPECT_EQ(rig.interrupts(), interrupts + 1) << what;
    if (fault != DmaFault::bad_frames) {
      EXPECT_EQ(rig.disks.check(test_passkey(), d).fault, fault) << what;
    }
  };
  DmaDescriptor other_asid = rig.read(0, 4096);
  other_asid.memory = keyed(kAsid + 1, Initiator::dma);  // another VM's memory key
  expect_refused(other_asid, DmaFault::wrong_asid, "another ASID");
  DmaDescriptor unkeyed = rig.read(0, 4096);
  unkeyed.memory = Requester::dma();  // plaintext DMA of decrypted sectors
  expect_refused(unkeyed, DmaFault::wrong_asid, "no ASID");
  expect_refused(rig.read(kSectors - 1, 8192), DmaFault::out_of_range, "beyond the data segment");
  expect_refused(rig.read(~std::uint64_t{0}, 4096), DmaFault::out_of_range,
                 "sector number that overflows");
  DmaDescriptor frames = rig.read(0, 8192);
  frames.frames.pop_back();
  expect_refused(frames, DmaFault::bad_frames, "too few frames");
  DmaDescriptor unaligned_frame = rig.read(0, 4096);
  unaligned_frame.frames[0] += 8;
  expect_refused(unaligned_frame, DmaFault::bad_frames, "a frame not page-aligned");
  DmaDescriptor partial = rig.read(0, 4096);
  partial.length = 100;
  expect_refused(partial, DmaFault::misaligned, "partial sector");
  DmaDescriptor too_long = rig.read(0, 4096);
  too_long.length = kMaxDmaBytes + 4096;
  expect_refused(too_long, DmaFault::bad_length, "more than a descriptor moves");
  DmaDescriptor raw_write = rig.read(0, 4096);
  raw_write.keyslot.reset();
  raw_write.direction = DmaDirection::to_disk;
  expect_refused(raw_write, DmaFault::raw_write, "raw write");
  DmaDescriptor raw_unaligned = rig.read(0, 4096);
  raw_unaligned.keyslot.reset();
  raw_unaligned.start = 100;
  expect_refused(raw_unaligned, DmaFault::misaligned, "raw read not in 512-byte units");
  DmaDescriptor raw_past_end = rig.read(0, 4096);
  raw_past_end.keyslot.reset();
  raw_past_end.start = kSegment + kSectors * 4096 - 512;
  expect_refused(raw_past_end, DmaFault::out_of_range, "raw read past the end of the file");
  DmaDescriptor other_port = rig.read(0, 4096);
  write_file_atomic(rig.dir / "other.img", read_file(rig.dir / "disk.img"));
  other_port.port = rig.disks.attach(rig.dir / "other.img", false);
  expect_refused(other_port, DmaFault::wrong_port, "a port the keyslot does not serve");
  DmaDescriptor no_disk = rig.read(0, 4096);
  no_disk.port = 77;
  expect_refused(no_disk, DmaFault::no_disk, "a port with no disk");
  DmaDescriptor empty_slot = rig.read(0, 4096);
  empty_slot.keyslot = 6;
  expect_refused(empty_slot, DmaFault::no_key, "empty keyslot");
  rig.disks.clear_keyslot(test_passkey(), 5);
  expect_refused(rig.read(0, 4096), DmaFault::no_key, "cleared keyslot");
  EXPECT_EQ(read_file(rig.dir / "disk.img"), before);  // nothing reached the file
}

// Random descriptors, many of them hostile: the controller never throws, refuses with the
// fault check() gives for the file side, and whatever it accepts lies inside the keyslot's
// data segment (keyed) or the file (raw), which a reference computation says independently.
TEST(DiskController, RandomDescriptorsGetTheCheckedVerdictAndNeverLeaveTheirRange) {
  Rig rig;
  std::mt19937_64 random(20261205);
  const std::uint64_t file_bytes = kSegment + kSectors * 4096;
  const std::uint64_t edges[] = {0,
                                 1,
                                 511,
                                 512,
                                 4095,
                                 4096,
                                 kSectors,
                                 kSectors - 1,
                                 kSegment,
                                 file_bytes,
                                 ~0ull,
                                 ~0ull - 4095,
                                 kMaxDmaBytes,
                                 kMaxDmaBytes + 1};
  auto pick = [&](std::uint64_t limit) {
    return random() % 2 == 0 ? edges[random() % std::size(edges)] : random() % limit;
  };
  std::size_t accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    DmaDescriptor d = rig.read(0, 4096);
    d.start = pick(file_bytes);
    d.length = pick(2 * kMaxDmaBytes);
    if (random() % 3 == 0) d.keyslot.reset();
    if (random() % 8 == 0) d.direction = DmaDirection::to_disk;
    if (random() % 10 == 0) d.keyslot = static_cast<std::uint32_t>(random() % 8);
    const std::uint64_t pages = std::min<std::uint64_t>((d.length + 4095) / 4096, 64);
    d.frames.assign(rig.frames.begin(),
                    rig.frames.begin() + static_cast<std::ptrdiff_t>(
                                             std::min<std::uint64_t>(pages, rig.frames.size())));
    if (random() % 10 == 0 && !d.frames.empty()) d.frames.pop_back();
    const DmaVerdict verdict = rig.disks.check(test_passkey(), d);
    DmaCompletion c;
    ASSERT_NO_THROW(c = rig.disks.run_dma(test_passkey(), 1, d));
    if (!verdict.ok()) {
      EXPECT_EQ(c.fault, verdict.fault) << i;
      continue;
    }
    // The reference: what a descriptor the file side accepts must satisfy.
    const bool keyed = d.keyslot.has_value();
    const std::uint64_t unit = keyed ? rig.sector_size : 512;
    ASSERT_GT(d.length, 0u);
    ASSERT_LE(d.length, kMaxDmaBytes);
    ASSERT_EQ(d.length % unit, 0u);
    if (keyed) {
      ASSERT_EQ(*d.keyslot, 5u);
      ASSERT_LE(d.start, kSectors);
      ASSERT_LE(d.length / unit, kSectors - d.start);
    } else {
      ASSERT_EQ(d.start % 512, 0u);
      ASSERT_LE(d.start, file_bytes);
      ASSERT_LE(d.length, file_bytes - d.start);
      ASSERT_EQ(d.direction, DmaDirection::to_memory);
    }
    EXPECT_TRUE(c.ok() || c.fault == DmaFault::bad_frames) << to_string(c.fault);
    if (c.ok()) ++accepted;
  }
  EXPECT_GT(accepted, 10u);  // the walk reached the accepting side too
}

// The hardware never calls into the host: interrupts wait in the controller, a bounded
// ring, until the host collects them.
TEST(DiskController, InterruptsWaitUntilTheHostCollectsThemAndTheRingIsBounded) {
  Rig rig;
  for (std::uint64_t tag = 1; tag <= DiskController::kMaxRaisedInterrupts + 3; ++tag) {
    (void)rig.disks.flush(test_passkey(), tag, rig.port);
  }
  const std::vector<DiskInterrupt> raised = rig.disks.take_interrupts();
  ASSERT_EQ(raised.size(), DiskController::kMaxRaisedInterrupts);
  EXPECT_EQ(raised.front(), (DiskInterrupt{rig.port, 4}));  // the three oldest were lost
  EXPECT_EQ(rig.disks.stats().interrupts_lost, 3u);
  EXPECT_TRUE(rig.disks.take_interrupts().empty());
}

TEST(DiskController, RawReadsReturnTheFileBytesAndKeyslotsMustFitTheDisk) {
  Rig rig;
  DmaDescriptor raw = rig.read(0, 4096);
  raw.keyslot.reset();
  raw.memory = keyed(kAsid, Initiator::dma);
  ASSERT_TRUE(rig.disks.run_dma(test_passkey(), 1, raw).ok());
  Bytes seen(4096);
  rig.mc.read(rig.frames[0], seen, keyed(kAsid));
  EXPECT_EQ(seen, Bytes(4096, 0x5a));
  EXPECT_THROW(
      rig.disks.program_keyslot(
          test_passkey(), 7,
          {SuiteId::sm, rig.key, 4096, kSegment, (kSectors + 1) * 4096, rig.port, kAsid, {}}),
      HwError);
  EXPECT_THROW(
      rig.disks.program_keyslot(test_passkey(), 7,
                                {SuiteId::sm, rig.key, 1024, kSegment, 4096, rig.port, kAsid, {}}),
      HwError);
  EXPECT_THROW(
      rig.disks.program_keyslot(test_passkey(), kDiskKeyslots,
                                {SuiteId::sm, rig.key, 4096, kSegment, 4096, rig.port, kAsid, {}}),
      HwError);
}

// --- authenticated images ------------------------------------------------------------

Bytes file_bytes(Rig& rig, std::uint64_t offset, std::uint64_t n) {
  Bytes out(n);
  rig.disks.backing(rig.port).read_at(offset, out);
  return out;
}

void put_file_bytes(Rig& rig, std::uint64_t offset, ByteView bytes) {
  rig.disks.backing(rig.port).write_at(offset, bytes);
}

DmaDescriptor write_of(const Rig& rig, std::uint64_t sector, std::uint64_t bytes) {
  DmaDescriptor d = rig.read(sector, bytes);
  d.direction = DmaDirection::to_disk;
  return d;
}

class TaggedDisk : public ::testing::TestWithParam<std::pair<SuiteId, std::uint32_t>> {};

TEST_P(TaggedDisk, ReadsCheckEveryTagBeforeAnythingReachesMemory) {
  const auto [suite, ss] = GetParam();
  // 1 MiB transfers: the two lanes of a bulk transfer each check their half.
  const std::uint64_t sectors = (1u << 20) / ss;
  Rig rig(suite, ss, sectors, false, true);
  ASSERT_FALSE(rig.disks.tag_root(test_passkey(), 5).empty());
  ASSERT_TRUE(rig.disks.run_dma(test_passkey(), 1, rig.read(0, 1u << 20)).ok());
  EXPECT_EQ(rig.seen(1u << 20), rig.plain_sectors(0, 1u << 20));
  for (const std::uint64_t victim : {std::uint64_t{1}, sectors - 3}) {  // one per lane
    const Bytes before = rig.seen(1u << 20);
    Bytes sector = file_bytes(rig, kSegment + victim * ss, ss);
    sector[ss / 2] ^= 0x04;
    put_file_bytes(rig, kSegment + victim * ss, sector);
    const DmaCompletion done = rig.disks.run_dma(test_passkey(), 2, rig.read(0, 1u << 20));
    EXPECT_EQ(done.fault, DmaFault::tag_mismatch);
    EXPECT_EQ(done.sector, victim);
    EXPECT_EQ(rig.seen(1u << 20), before) << "a refused read wrote guest memory";
    sector[ss / 2] ^= 0x04;
    put_file_bytes(rig, kSegment + victim * ss, sector);
  }
  EXPECT_EQ(rig.disks.stats().tag_mismatches, 2u);
}

TEST_P(TaggedDisk, AWriteReplacesTagsAndAReplayedOldSectorIsRefused) {
  const auto [suite, ss] = GetParam();
  Rig rig(suite, ss, 64, false, true);
  const std::uint64_t tag_offset = *rig.keyslot.tag_offset;
  const Bytes old_root = rig.disks.tag_root(test_passkey(), 5);
  const Bytes old_sector = file_bytes(rig, kSegment + 4 * ss, ss);
  // New contents for sectors 4.. through guest memory.
  const Bytes fresh = crypto::random_bytes(4096);
  rig.mc.write(rig.frames[0], fresh, keyed(kAsid));
  auto staged = rig.disks.stage_write(test_passkey(), 7, write_of(rig, 4, 4096));
  ASSERT_TRUE(std::holds_alternative<DiskController::StagedWrite>(staged));
  const auto& write = std::get<DiskController::StagedWrite>(staged);
  EXPECT_EQ(write.first_sector, 4u);
  EXPECT_EQ(write.old_tags, file_bytes(rig, tag_offset + 4 * kTag, 4096 / ss * kTag));
  EXPECT_EQ(file_bytes(rig, kSegment + 4 * ss, ss), old_sector) << "staging wrote the disk";
  EXPECT_EQ(rig.disks.tag_root(test_passkey(), 5), old_root);
  // Another transfer must wait for the staged write.
  EXPECT_EQ(rig.disks.run_dma(test_passkey(), 8, rig.read(0, 4096)).fault, DmaFault::aborted);
  ASSERT_TRUE(rig.disks.commit_write(test_passkey()).ok());
  EXPECT_EQ(rig.disks.tag_root(test_passkey(), 5), write.new_root);
  EXPECT_EQ(file_bytes(rig, tag_offset + 4 * kTag, 4096 / ss * kTag), write.new_tags);
  const Bytes all_tags = file_bytes(rig, tag_offset, 64 * kTag);
  EXPECT_EQ(crypto::tag_tree_root(suite, all_tags), write.new_root);
  ASSERT_TRUE(rig.disks.run_dma(test_passkey(), 9, rig.read(4, 4096)).ok());
  EXPECT_EQ(rig.seen(4096), fresh);
  // The host puts the old ciphertext back (its old tag is no longer the sector's).
  put_file_bytes(rig, kSegment + 4 * ss, old_sector);
  const DmaCompletion replayed = rig.disks.run_dma(test_passkey(), 10, rig.read(4, 4096));
  EXPECT_EQ(replayed.fault, DmaFault::tag_mismatch);
  EXPECT_EQ(replayed.sector, 4u);
}

TEST_P(TaggedDisk, ACancelledWriteLeavesTheDiskAsItWas) {
  const auto [suite, ss] = GetParam();
  Rig rig(suite, ss, 16, false, true);
  const Bytes before = file_bytes(rig, 0, rig.disks.backing(rig.port).size());
  const Bytes root = rig.disks.tag_root(test_passkey(), 5);
  ASSERT_TRUE(std::holds_alternative<DiskController::StagedWrite>(
      rig.disks.stage_write(test_passkey(), 3, write_of(rig, 0, 8192))));
  EXPECT_EQ(rig.disks.cancel_write(test_passkey()).fault, DmaFault::aborted);
  EXPECT_EQ(file_bytes(rig, 0, before.size()), before);
  EXPECT_EQ(rig.disks.tag_root(test_passkey(), 5), root);
  EXPECT_EQ(rig.interrupts(), 1u);  // the cancelled write still completes
  // A read is not a write to stage, and a raw write (no keyslot) is refused as every raw
  // write is.
  EXPECT_TRUE(std::holds_alternative<DmaCompletion>(
      rig.disks.stage_write(test_passkey(), 4, rig.read(0, 4096))));
  DmaDescriptor raw = write_of(rig, 0, 4096);
  raw.keyslot.reset();
  const auto refused = rig.disks.stage_write(test_passkey(), 5, raw);
  ASSERT_TRUE(std::holds_alternative<DmaCompletion>(refused));
  EXPECT_EQ(std::get<DmaCompletion>(refused).fault, DmaFault::raw_write);
  EXPECT_EQ(file_bytes(rig, 0, before.size()), before);
}

// A crash between the sectors and their tags, or before either: the next boot's keyslot
// settles the write on what the disk holds.
TEST_P(TaggedDisk, SettlingACutShortWriteKeepsWhatEachSectorMatches) {
  const auto [suite, ss] = GetParam();
  for (const int crash_point : {0, 1, 2}) {  // before the sectors, between, after the tags
    SCOPED_TRACE(crash_point);
    Rig rig(suite, ss, 32, false, true);
    const std::uint64_t tag_offset = *rig.keyslot.tag_offset;
    const Bytes old_root = rig.disks.tag_root(test_passkey(), 5);
    const Bytes old_data = file_bytes(rig, kSegment + 8 * ss, 8192);
    rig.mc.write(rig.frames[0], crypto::random_bytes(4096), keyed(kAsid));
    rig.mc.write(rig.frames[1], crypto::random_bytes(4096), keyed(kAsid));
    auto staged = rig.disks.stage_write(test_passkey(), 1, write_of(rig, 8, 8192));
    const auto write = std::get<DiskController::StagedWrite>(staged);
    ASSERT_TRUE(rig.disks.commit_write(test_passkey()).ok());
    if (crash_point == 0) put_file_bytes(rig, kSegment + 8 * ss, old_data);
    if (crash_point <= 1) put_file_bytes(rig, tag_offset + 8 * kTag, write.old_tags);
    // The next boot: the keyslot again, from the file.
    rig.disks.clear_keyslot(test_passkey(), 5);
    rig.disks.program_keyslot(test_passkey(), 5, rig.keyslot);
    const auto settled =
        rig.disks.settle_write(test_passkey(), 5, 8, write.old_tags, write.new_tags, old_root);
    ASSERT_EQ(settled.outcome, DiskController::Settle::settled);
    const Bytes expected = crash_point == 0 ? old_root : write.new_root;
    EXPECT_EQ(rig.disks.tag_root(test_passkey(), 5), expected);
    EXPECT_EQ(crypto::tag_tree_root(suite, file_bytes(rig, tag_offset, 32 * kTag)), expected);
    // A root other than the committed one before the write is not settled on.
    Bytes wrong = old_root;
    wrong[0] ^= 1;
    EXPECT_EQ(
        rig.disks.settle_write(test_passkey(), 5, 8, write.old_tags, write.new_tags, wrong).outcome,
        DiskController::Settle::root_mismatch);
  }
}

TEST_P(TaggedDisk, ASectorMatchingNeitherTagIsNotSettled) {
  const auto [suite, ss] = GetParam();
  Rig rig(suite, ss, 32, false, true);
  const Bytes old_root = rig.disks.tag_root(test_passkey(), 5);
  auto staged = rig.disks.stage_write(test_passkey(), 1, write_of(rig, 8, 4096));
  const auto write = std::get<DiskController::StagedWrite>(staged);
  ASSERT_TRUE(rig.disks.commit_write(test_passkey()).ok());
  put_file_bytes(rig, *rig.keyslot.tag_offset + 8 * kTag, write.old_tags);
  Bytes garbage = crypto::random_bytes(ss);
  put_file_bytes(rig, kSegment + 8 * ss, garbage);
  rig.disks.clear_keyslot(test_passkey(), 5);
  rig.disks.program_keyslot(test_passkey(), 5, rig.keyslot);
  const auto settled =
      rig.disks.settle_write(test_passkey(), 5, 8, write.old_tags, write.new_tags, old_root);
  EXPECT_EQ(settled.outcome, DiskController::Settle::unsettled);
  EXPECT_EQ(settled.sector, 8u);
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, TaggedDisk,
                         ::testing::Values(std::pair{SuiteId::sm, 4096u},
                                           std::pair{SuiteId::sm, 512u},
                                           std::pair{SuiteId::nist, 4096u}));

TEST(DiskController, ATagAreaBeyondTheDiskIsRefused) {
  Rig rig(SuiteId::sm, 4096, kSectors);
  DiskKeyslot config = rig.keyslot;
  config.tag_offset = rig.disks.backing(rig.port).size() - 64;
  EXPECT_THROW(rig.disks.program_keyslot(test_passkey(), 6, config), HwError);
  config.tag_offset = ~std::uint64_t{0} - 16;
  EXPECT_THROW(rig.disks.program_keyslot(test_passkey(), 6, config), HwError);
  EXPECT_FALSE(rig.disks.keyslot_loaded(6));
}

}  // namespace
}  // namespace cvmsim::hw
