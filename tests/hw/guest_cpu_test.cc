// The guest CPU's semantics on hand-assembled x86-64 code: exact exits, TLB staleness until
// flush, what the guest sees of frames that are not its own, permissions, limits.
#include "hw/guest_cpu.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <utility>

#include "crypto/suite.h"
#include "hw/hw_error.h"
#include "test_machine.h"

namespace cvmsim::hw::testing {
namespace {

// Compile-time half of the capability story: nothing outside the PSP can mint these.
static_assert(!std::is_default_constructible_v<PspPasskey>);
static_assert(!std::is_constructible_v<Requester, Initiator, std::uint32_t>);
static_assert(!std::is_default_constructible_v<VcpuBinding>);

constexpr std::uint64_t kData = 0x300000;  // a data page the tests map themselves

std::uint32_t read32(TestMachine& m, std::uint64_t hpa, Requester who) {
  std::array<std::uint8_t, 4> b{};
  m.mc.read(hpa, b, who);
  return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
         std::uint32_t{b[3]} << 24;
}

void write32(TestMachine& m, std::uint64_t hpa, std::uint32_t v, Requester who) {
  const std::array<std::uint8_t, 4> b{
      static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
      static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
  m.mc.write(hpa, b, who);
}

// loop: mov eax, [kData]; out 0x80, eax; jmp loop
const Bytes kReadLoop = {0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0xe7, 0x80, 0xeb, 0xf5};

// Every test runs with both backings of guest pages: frames one after another (direct and
// MMIO regions) and huge pages (one window per 2 MiB block, docs/architecture.md).
class GuestCpuTest : public ::testing::TestWithParam<Backing> {
 protected:
  [[nodiscard]] TestMachine machine() const {
    return TestMachine(crypto::SuiteId::sm, {}, GetParam());
  }
};

VmExit next_out(TestMachine& m) {
  const VmExit e = m.cpu->run();
  EXPECT_EQ(e.kind, VmExit::Kind::io_out) << e.detail;
  return e;
}

// Two frames of the VM holding `first` and `second`: the frame kData's block places at
// kData, and a fresh one. The tests remap kData between them.
std::pair<std::uint64_t, std::uint64_t> two_data_frames(TestMachine& m, std::uint32_t first,
                                                        std::uint32_t second) {
  const std::uint64_t a = m.frame_for(kData);
  const std::uint64_t b = m.new_frame();
  m.own(a, kAsid);
  m.own(b, kAsid);
  write32(m, a, first, psp_access(kAsid));
  write32(m, b, second, psp_access(kAsid));
  return {a, b};
}

TEST_P(GuestCpuTest, TranslationsStayStaleUntilTheTlbIsFlushed) {
  TestMachine m = machine();
  m.load(kLoadGpa, kReadLoop);
  const auto [a, b] = two_data_frames(m, 111, 222);
  m.map(kData, a);
  EXPECT_EQ(next_out(m).value, 111u);
  m.map(kData, b);  // remapped behind the vCPU's back
  EXPECT_EQ(next_out(m).value, 111u);
  EXPECT_EQ(next_out(m).value, 111u);
  m.cpu->flush_tlb();  // flushed while the guest is suspended inside OUT
  EXPECT_EQ(next_out(m).value, 222u);
}

// TLB tracking's hardware half: the vCPU records each flush in its VM's tracker, and its
// first entry after the epoch moved flushes by itself, so a stale translation does not
// outlive a TLB_TRACK, and the PSP can count on the record.
TEST_P(GuestCpuTest, AnEntryAfterTheEpochMovedFlushesAndIsRecorded) {
  TestMachine m = machine();
  const std::shared_ptr<TlbTracker> tracker = m.cpu->binding().tlb_tracker();
  const std::uint64_t epoch = tracker->epoch();
  EXPECT_EQ(tracker->vcpus(), 1u);
  EXPECT_EQ(tracker->oldest_flush(), epoch);  // a new vCPU caches nothing
  m.load(kLoadGpa, kReadLoop);
  const auto [a, b] = two_data_frames(m, 111, 222);
  m.map(kData, a);
  EXPECT_EQ(next_out(m).value, 111u);
  m.map(kData, b);  // remapped without a flush: stale
  tracker->advance(test_passkey());
  EXPECT_FALSE(tracker->flushed_past(epoch));
  EXPECT_EQ(tracker->oldest_flush(), epoch);
  const std::uint64_t flushes = m.cpu->stats().tlb_flushes;
  EXPECT_EQ(next_out(m).value, 222u);  // the entry flushed: the new mapping shows
  EXPECT_EQ(m.cpu->stats().tlb_flushes, flushes + 1);
  EXPECT_TRUE(tracker->flushed_past(epoch));
  EXPECT_EQ(next_out(m).value, 222u);
  EXPECT_EQ(m.cpu->stats().tlb_flushes, flushes + 1);  // once per epoch, not per entry
  m.cpu.reset();
  EXPECT_EQ(tracker->vcpus(), 0u);
}

TEST_P(GuestCpuTest, ExitsAreExactAndNothingRunsTwice) {
  TestMachine m = machine();
  // mov ebx, 5; inc ebx; mov [0x500000], ebx; mov dword [kData], 0; out 0x80, al;
  // mov eax, [kData]; out 0x81, eax; mov eax, ebx; out 0x82, eax; hlt
  m.load(kLoadGpa,
         Bytes{0xbb, 0x05, 0,    0, 0,    0xff, 0xc3, 0x89, 0x1c, 0x25, 0,    0,    0x50, 0,
               0xc7, 0x04, 0x25, 0, 0,    0x30, 0,    0,    0,    0,    0,    0xe6, 0x80, 0x8b,
               0x04, 0x25, 0,    0, 0x30, 0,    0xe7, 0x81, 0x89, 0xd8, 0xe7, 0x82, 0xf4});
  const std::uint64_t data = m.frame_for(kData);
  m.own(data, kAsid);
  m.map(kData, data);
  const VmExit npf = m.cpu->run();
  ASSERT_EQ(npf.kind, VmExit::Kind::nested_page_fault);
  EXPECT_EQ(npf.fault.gpa, 0x500000u);
  EXPECT_EQ(npf.fault.access, npt::Access::write);
  EXPECT_EQ(npf.fault.level, 1);  // no level-1 entry for the 2 MiB range at 4 MiB
  const std::uint64_t page = m.frame_for(0x500000);
  m.own(page, kAsid);
  m.map(0x500000, page);
  ASSERT_EQ(next_out(m).port, 0x80);
  // The guest is suspended inside OUT: what the VMM does now is seen by the next load.
  write32(m, data, 7, psp_access(kAsid));
  EXPECT_EQ(next_out(m).value, 7u);
  EXPECT_EQ(next_out(m).value, 6u);  // inc ran once although the store faulted
  EXPECT_EQ(read32(m, page, psp_access(kAsid)), 6u);
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::halt);
}

TEST_P(GuestCpuTest, CodeRewrittenBehindTheGuestIsWhatItExecutesNext) {
  TestMachine m = machine();
  // loop: mov eax, 1; out 0x80, eax; jmp loop
  m.load(kLoadGpa, Bytes{0xb8, 1, 0, 0, 0, 0xe7, 0x80, 0xeb, 0xf7});
  EXPECT_EQ(next_out(m).value, 1u);
  EXPECT_EQ(next_out(m).value, 1u);  // the block is translated and cached by now
  const std::uint64_t frame = m.hpa_of(kLoadGpa);
  Bytes old_ciphertext(kFrameSize);
  m.mc.read(frame, old_ciphertext, kHostAccess);  // what the VMM sees of the code page
  // The PSP rewrites the immediate; a VM exit is serialising, so the guest must execute
  // the new bytes from its next fetch on.
  m.mc.write(frame + 1, Bytes{2}, psp_access(kAsid));
  EXPECT_EQ(next_out(m).value, 2u);
  EXPECT_EQ(next_out(m).value, 2u);
  // The VMM replays the old ciphertext (no integrity, as on SEV): the guest runs the old
  // code again, not the translation of the new.
  m.mc.write(frame, old_ciphertext, kHostAccess);
  EXPECT_EQ(next_out(m).value, 1u);
  EXPECT_EQ(m.cpu->stats().code_drops, 2u);
}

TEST_P(GuestCpuTest, InReturnsTheValueTheVmmSupplies) {
  TestMachine m = machine();
  // in eax, 0x90; out 0x80, eax; in al, 0x91; out 0x80, eax; hlt
  m.load(kLoadGpa, Bytes{0xe5, 0x90, 0xe7, 0x80, 0xe4, 0x91, 0xe7, 0x80, 0xf4});
  VmExit e = m.cpu->run();
  ASSERT_EQ(e.kind, VmExit::Kind::io_in);
  EXPECT_EQ(e.port, 0x90);
  EXPECT_EQ(e.size, 4);
  m.cpu->complete_io_in(0x12345678);
  EXPECT_EQ(next_out(m).value, 0x12345678u);
  e = m.cpu->run();
  ASSERT_EQ(e.kind, VmExit::Kind::io_in);
  EXPECT_EQ(e.size, 1);
  m.cpu->complete_io_in(0xabcdef99);
  EXPECT_EQ(next_out(m).value, 0x12345699u);  // only AL changed
}

TEST_P(GuestCpuTest, AnotherVmsFrameShowsWhatTheMemoryControllerShows) {
  TestMachine m = machine();
  m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
  m.load(kLoadGpa, kReadLoop);
  const std::uint64_t theirs = m.new_frame();
  m.own(theirs, 2);
  write32(m, theirs, 0x5ec4e7, psp_access(2));
  m.map(kData, theirs);  // an attacker's remap onto VM 2's frame
  const std::uint32_t seen = next_out(m).value;
  EXPECT_NE(seen, 0x5ec4e7u);
  // Exactly the hardware's answer: VM 2's ciphertext decrypted with this VM's key.
  EXPECT_EQ(seen, read32(m, theirs, keyed(kAsid)));
  EXPECT_EQ(m.cpu->stats().foreign_pages_mapped, 1u);
  // The owner writes its frame while this vCPU is suspended: the next load shows the
  // new DRAM through this vCPU's key, as the hardware would.
  write32(m, theirs, 0x0dd, psp_access(2));
  const std::uint32_t after = next_out(m).value;
  EXPECT_EQ(after, read32(m, theirs, keyed(kAsid)));
  EXPECT_NE(after, seen);
}

TEST_P(GuestCpuTest, WritesToAnotherVmsFrameGarbleItForItsOwner) {
  TestMachine m = machine();
  m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
  // mov dword [kData], 0x41414141; hlt
  m.load(kLoadGpa, Bytes{0xc7, 0x04, 0x25, 0, 0, 0x30, 0, 0x41, 0x41, 0x41, 0x41, 0xf4});
  const std::uint64_t theirs = m.new_frame();
  m.own(theirs, 2);
  m.map(kData, theirs);
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::halt);
  const std::uint32_t owner_sees = read32(m, theirs, keyed(2));
  EXPECT_NE(owner_sees, 0x41414141u);
  EXPECT_NE(owner_sees, 0u);
}

TEST_P(GuestCpuTest, CodeInAFrameNotUnderTheVcpusKeyIsNotExecuted) {
  TestMachine m = machine();
  m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
  const std::uint64_t code = m.new_frame();  // VM 2's page of code, mapped into this VM
  m.own(code, 2);
  m.mc.write(code, Bytes{0xf4}, psp_access(2));
  m.map(kLoadGpa, code);
  const VmExit e = m.cpu->run();
  EXPECT_EQ(e.kind, VmExit::Kind::guest_fault);
  EXPECT_NE(e.detail.find("fetch"), std::string::npos) << e.detail;
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::guest_fault);  // stays dead
}

TEST_P(GuestCpuTest, SharedEntriesGiveThePlaintextTheHostWrote) {
  TestMachine m = machine();
  m.load(kLoadGpa, kReadLoop);
  const std::uint64_t shared = m.frame_for(kData);
  write32(m, shared, 0xc0ffee, kHostAccess);
  m.map(kData, shared, npt::kPresent | npt::kWritable | npt::kShared);
  EXPECT_EQ(next_out(m).value, 0xc0ffeeu);
  EXPECT_EQ(m.cpu->stats().foreign_pages_mapped, 0u);  // aliased directly: same key slot (none)
}

TEST_P(GuestCpuTest, PermissionFaultsReportTheAccessAndRetryAfterTheFix) {
  TestMachine m = machine();
  // mov dword [kData], 9; hlt
  m.load(kLoadGpa, Bytes{0xc7, 0x04, 0x25, 0, 0, 0x30, 0, 9, 0, 0, 0, 0xf4});
  const std::uint64_t data = m.frame_for(kData);
  m.own(data, kAsid);
  m.map(kData, data, npt::kPresent);  // read-only
  const VmExit e = m.cpu->run();
  ASSERT_EQ(e.kind, VmExit::Kind::nested_page_fault);
  EXPECT_EQ(e.fault.kind, npt::FaultKind::permission);
  EXPECT_EQ(e.fault.access, npt::Access::write);
  m.map(kData, data, npt::kPresent | npt::kWritable);
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::halt);
  EXPECT_EQ(read32(m, data, psp_access(kAsid)), 9u);
}

TEST_P(GuestCpuTest, GuestExceptionsAreFaultsUntilTheVcpuIsRestarted) {
  TestMachine m = machine();
  // xor ecx, ecx; div ecx; ... at +4: hlt
  m.load(kLoadGpa, Bytes{0x31, 0xc9, 0xf7, 0xf1, 0xf4});
  VmExit e = m.cpu->run();
  ASSERT_EQ(e.kind, VmExit::Kind::guest_fault) << e.detail;
  EXPECT_EQ(e.vector, 0);  // #DE
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::guest_fault);
  Registers r = m.cpu->registers();
  r.rip = kLoadGpa + 4;
  m.cpu->set_registers(r);
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::halt);
}

// The simulated-time budget is counted in executed code bytes at block starts, so where a
// vCPU stops is exact and the same on every host: `inc rax; jmp back` is one 5-byte block.
TEST_P(GuestCpuTest, CodeBudgetsStopAtTheSameInstructionOnEveryRun) {
  TestMachine m = machine();
  // inc rax; jmp back
  m.load(kLoadGpa, Bytes{0x48, 0xff, 0xc0, 0xeb, 0xfb});
  VmExit e = m.cpu->run({.code_bytes = 50'000});
  ASSERT_EQ(e.kind, VmExit::Kind::preempted) << e.detail;
  EXPECT_EQ(m.cpu->registers().rax, 10'000u);
  EXPECT_EQ(m.cpu->code_bytes(), 50'000u);
  e = m.cpu->run({.code_bytes = 50'001});  // the block that crosses the budget still runs
  ASSERT_EQ(e.kind, VmExit::Kind::preempted) << e.detail;
  EXPECT_EQ(m.cpu->registers().rax, 20'001u);
  EXPECT_EQ(m.cpu->stats().code_bytes, 100'005u);
}

// The host's safety net stops a guest that never exits, and it can resume afterwards.
TEST_P(GuestCpuTest, TheHostDeadlineStopsAGuestThatNeverExits) {
  TestMachine m = machine();
  m.load(kLoadGpa, Bytes{0x48, 0xff, 0xc0, 0xeb, 0xfb});
  const auto start = std::chrono::steady_clock::now();
  VmExit e = m.cpu->run({.host_deadline = start + std::chrono::milliseconds(30)});
  ASSERT_EQ(e.kind, VmExit::Kind::host_timeout) << e.detail;
  const std::uint64_t first = m.cpu->registers().rax;
  EXPECT_GT(first, 1000u);
  EXPECT_EQ(m.cpu->code_bytes(), first * 5);  // stopped at a block start: nothing half-run
  e = m.cpu->run({.code_bytes = 5});
  ASSERT_EQ(e.kind, VmExit::Kind::preempted);
  EXPECT_EQ(m.cpu->registers().rax, first + 1);
}

TEST_P(GuestCpuTest, ShortSlicesAndFaultsNeverRunAnInstructionTwice) {
  TestMachine m = machine();
  // rdi = 0x10000000; rcx = 400; l: inc rbx; mov [rdi], rbx; add rdi, 4096; dec rcx;
  // jnz l; hlt  -- every page must hold its own index + 1, whatever interrupts the loop
  m.load(kLoadGpa, Bytes{0x48, 0xc7, 0xc7, 0,    0,    0,    0x10, 0x48, 0xc7, 0xc1, 0x90,
                         0x01, 0,    0,    0x48, 0xff, 0xc3, 0x48, 0x89, 0x1f, 0x48, 0x81,
                         0xc7, 0,    0x10, 0,    0,    0x48, 0xff, 0xc9, 0x75, 0xee, 0xf4});
  std::uint64_t slices = 0;
  for (;;) {
    const VmExit e = m.cpu->run({.code_bytes = 50});
    if (e.kind == VmExit::Kind::preempted) {
      ++slices;
      continue;
    }
    if (e.kind == VmExit::Kind::nested_page_fault) {
      const std::uint64_t frame = m.frame_for(e.fault.gpa);
      m.own(frame, kAsid);
      m.map(e.fault.gpa & ~std::uint64_t{0xfff}, frame);
      continue;
    }
    ASSERT_EQ(e.kind, VmExit::Kind::halt) << e.detail;
    break;
  }
  EXPECT_EQ(m.cpu->registers().rbx, 400u);
  for (std::uint64_t i = 0; i < 400; ++i) {
    ASSERT_EQ(read32(m, m.hpa_of(0x10000000 + i * kFrameSize), psp_access(kAsid)), i + 1) << i;
  }
  RecordProperty("slices", static_cast<int>(slices));
}

TEST_P(GuestCpuTest, InstructionBudgetsNeedCountingAndStopTheGuest) {
  TestMachine counting(crypto::SuiteId::sm, CpuOptions{true}, GetParam());
  counting.load(kLoadGpa, Bytes{0x48, 0xff, 0xc0, 0xeb, 0xfb});
  const VmExit e = counting.cpu->run({.instructions = 100000});
  ASSERT_EQ(e.kind, VmExit::Kind::instruction_limit);
  EXPECT_GE(counting.cpu->stats().instructions, 100000u);
  EXPECT_LT(counting.cpu->stats().instructions, 100100u);  // stops at a block boundary
  TestMachine plain = machine();
  EXPECT_THROW((void)plain.cpu->run({.instructions = 10}), HwError);
}

TEST_P(GuestCpuTest, WritesIntoRegionsWithoutCodeKeepTheTranslatedCode) {
  TestMachine m = machine();
  m.load(kLoadGpa, kReadLoop);
  const std::uint64_t data = m.frame_for(kData);
  m.own(data, kAsid);
  m.map(kData, data);  // executable in the NPT, but no code runs from it
  write32(m, data, 7, psp_access(kAsid));
  EXPECT_EQ(next_out(m).value, 7u);
  // DMA-like writes into the data page: the guest sees them, its code stays translated.
  for (std::uint32_t v = 8; v < 12; ++v) {
    write32(m, data, v, psp_access(kAsid));
    EXPECT_EQ(next_out(m).value, v);
  }
  EXPECT_EQ(m.cpu->stats().code_drops, 0u);
  // A write into the page the loop runs from drops that page's code (and nothing else).
  write32(m, m.hpa_of(kLoadGpa) + 16, 0, psp_access(kAsid));
  EXPECT_EQ(next_out(m).value, 11u);
  EXPECT_EQ(m.cpu->stats().code_drops, 1u);
}

TEST_P(GuestCpuTest, CodeInARegionFirstMappedForDataIsStillRefetchedAfterARewrite) {
  TestMachine m = machine();
  // mov eax, [kData]; mov ebx, kData; jmp rbx: the data load maps the region, the jump
  // then runs code from it without a fetch miss.
  m.load(kLoadGpa,
         Bytes{0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0xbb, 0x00, 0x00, 0x30, 0x00, 0xff, 0xe3});
  const std::uint64_t page = m.frame_for(kData);
  m.own(page, kAsid);
  m.map(kData, page);
  // At kData: l: mov eax, 1; out 0x80, eax; jmp l
  m.mc.write(page, Bytes{0xb8, 1, 0, 0, 0, 0xe7, 0x80, 0xeb, 0xf7}, psp_access(kAsid));
  EXPECT_EQ(next_out(m).value, 1u);
  EXPECT_EQ(next_out(m).value, 1u);
  m.mc.write(page + 1, Bytes{2}, psp_access(kAsid));  // e.g. a DMA or a replayed page
  EXPECT_EQ(next_out(m).value, 2u);
  EXPECT_EQ(m.cpu->stats().code_drops, 1u);
}

TEST_P(GuestCpuTest, FramesOffTheirBlocksRunAreAliasedPageByPage) {
  TestMachine m = machine();
  // rdi = kData; rcx = 8; l: mov [rdi], rcx; add rdi, 4096; dec rcx; jnz l; hlt
  m.load(kLoadGpa, Bytes{0x48, 0xc7, 0xc7, 0, 0,    0x30, 0,    0x48, 0xc7, 0xc1,
                         8,    0,    0,    0, 0x48, 0x89, 0x0f, 0x48, 0x81, 0xc7,
                         0,    0x10, 0,    0, 0x48, 0xff, 0xc9, 0x75, 0xf1, 0xf4});
  const std::uint64_t first = m.new_frame();
  for (std::uint64_t i = 0; i < 8; ++i) {  // frames first..first+7, contiguous in one chunk
    const std::uint64_t frame = i == 0 ? first : m.new_frame();
    ASSERT_EQ(frame, first + i * kFrameSize);
    m.own(frame, kAsid);
  }
  for (std::uint64_t i = 0; i < 8; ++i) m.map(kData + i * kFrameSize, first + i * kFrameSize);
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::halt);
  // The data frames are not at their pages' offsets of a huge-page run: one alias each
  // (and one for the code page when it is not on a run either).
  const bool huge = GetParam() == Backing::huge_pages;
  EXPECT_EQ(m.cpu->stats().pages_aliased, huge ? 8u : 9u);
  EXPECT_EQ(m.cpu->stats().blocks_aliased, huge ? 1u : 0u);
  for (std::uint64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(read32(m, first + i * kFrameSize, psp_access(kAsid)), 8 - i) << i;
  }
}

TEST_P(GuestCpuTest, ManyScatteredPagesStayCorrect) {
  TestMachine m = machine();
  // rdi = 0x10000000; rcx = 300; l: mov [rdi], rcx; add rdi, 0x11000; dec rcx; jnz l;
  // then read back: rdi = 0x10000000; rcx = 300; xor eax, eax; l2: add rax, [rdi];
  // add rdi, 0x11000; dec rcx; jnz l2; out 0x80, eax; hlt
  m.load(kLoadGpa,
         Bytes{0x48, 0xc7, 0xc7, 0,    0,    0,    0x10, 0x48, 0xc7, 0xc1, 0x2c, 0x01, 0,
               0,    0x48, 0x89, 0x0f, 0x48, 0x81, 0xc7, 0,    0x10, 0x01, 0,    0x48, 0xff,
               0xc9, 0x75, 0xf1, 0x48, 0xc7, 0xc7, 0,    0,    0,    0x10, 0x48, 0xc7, 0xc1,
               0x2c, 0x01, 0,    0,    0x31, 0xc0, 0x48, 0x03, 0x07, 0x48, 0x81, 0xc7, 0,
               0x10, 0x01, 0,    0x48, 0xff, 0xc9, 0x75, 0xf1, 0xe7, 0x80, 0xf4});
  const RunOutcome out = m.run();
  ASSERT_EQ(out.last.kind, VmExit::Kind::halt) << out.last.detail;
  EXPECT_EQ(out.nested_page_faults, 300u);
  if (GetParam() == Backing::bump) {
    EXPECT_GE(m.cpu->stats().pages_aliased, 300u);
  } else {  // 20 MiB of GPAs: about ten blocks, each aliased once
    EXPECT_LE(m.cpu->stats().blocks_aliased, 12u);
    EXPECT_EQ(m.cpu->stats().pages_aliased, 0u);
  }
  // The OUT was served inside run(): recompute what it printed from memory instead.
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    sum += read32(m, m.hpa_of(0x10000000 + i * 0x11000), psp_access(kAsid));
  }
  EXPECT_EQ(sum, 300u * 301u / 2);
}

TEST_P(GuestCpuTest, FaultsInsideABlockNeedNoFurtherAlias) {
  TestMachine m = machine();
  // rdi = kData; rcx = 64; l: mov [rdi], rcx; add rdi, 4096; dec rcx; jnz l; hlt
  m.load(kLoadGpa, Bytes{0x48, 0xc7, 0xc7, 0, 0,    0x30, 0,    0x48, 0xc7, 0xc1,
                         64,   0,    0,    0, 0x48, 0x89, 0x0f, 0x48, 0x81, 0xc7,
                         0,    0x10, 0,    0, 0x48, 0xff, 0xc9, 0x75, 0xf1, 0xf4});
  const RunOutcome out = m.run();
  ASSERT_EQ(out.last.kind, VmExit::Kind::halt) << out.last.detail;
  EXPECT_EQ(out.nested_page_faults, 64u);
  for (std::uint64_t i = 0; i < 64; ++i) {
    ASSERT_EQ(read32(m, m.hpa_of(kData + i * kFrameSize), psp_access(kAsid)), 64 - i) << i;
  }
  if (GetParam() == Backing::huge_pages) {
    // The code's block and the data's block: two aliases, each made once.
    EXPECT_EQ(m.cpu->stats().blocks_aliased, 2u);
    EXPECT_EQ(m.cpu->stats().pages_aliased, 0u);
  } else {
    EXPECT_EQ(m.cpu->stats().blocks_aliased, 0u);
    EXPECT_EQ(m.cpu->stats().pages_aliased, 65u);
  }
}

TEST_P(GuestCpuTest, AForeignFrameInsideABlockLeavesTheRestOfTheBlockDirect) {
  TestMachine m = machine();
  m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
  // l: mov eax, [kLoadGpa + 0x10000]; out 0x80, eax; jmp l -- VM 2's frame, same block
  m.load(kLoadGpa, Bytes{0x8b, 0x04, 0x25, 0x00, 0x00, 0x11, 0x00, 0xe7, 0x80, 0xeb, 0xf5});
  const std::uint64_t theirs = m.new_frame();
  m.own(theirs, 2);
  write32(m, theirs, 0x5ec4e7, psp_access(2));
  m.map(kLoadGpa + 0x10000, theirs);
  const std::uint32_t seen = next_out(m).value;
  EXPECT_EQ(seen, read32(m, theirs, keyed(kAsid)));  // garbage, as the hardware shows it
  EXPECT_EQ(next_out(m).value, seen);                // and the code in the same block keeps running
  EXPECT_EQ(m.cpu->stats().foreign_pages_mapped, 1u);
  if (GetParam() == Backing::huge_pages) {
    EXPECT_EQ(m.cpu->stats().blocks_aliased, 1u);  // the code's block, aliased once
  }
  EXPECT_EQ(m.cpu->stats().code_drops, 0u);
}

// A foreign page between direct pages of one block: stores to it go through the memory
// controller (garbling the owner's plaintext), its neighbours stay the VM's own memory.
TEST_P(GuestCpuTest, StoresAroundAForeignFrameInABlockReachTheRightFrames) {
  TestMachine m = machine();
  m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
  // mov dword [kData], 0x11; mov dword [kData + 0x1000], 0x22; mov dword [kData + 0x2000],
  // 0x33; mov eax, [kData + 0x1000]; out 0x80, eax; hlt
  m.load(kLoadGpa, Bytes{0xc7, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0x11, 0,    0,   0,
                         0xc7, 0x04, 0x25, 0x00, 0x10, 0x30, 0x00, 0x22, 0,    0,   0,
                         0xc7, 0x04, 0x25, 0x00, 0x20, 0x30, 0x00, 0x33, 0,    0,   0,
                         0x8b, 0x04, 0x25, 0x00, 0x10, 0x30, 0x00, 0xe7, 0x80, 0xf4});
  const std::uint64_t before = m.frame_for(kData);
  const std::uint64_t theirs = m.frame_for(kData + 0x1000);  // on the block's run when huge
  const std::uint64_t after = m.frame_for(kData + 0x2000);
  m.own(before, kAsid);
  m.own(theirs, 2);
  m.own(after, kAsid);
  write32(m, theirs, 0x5ec4e7, psp_access(2));
  m.map(kData, before);
  m.map(kData + 0x1000, theirs);
  m.map(kData + 0x2000, after);
  EXPECT_EQ(next_out(m).value, 0x22u);  // this vCPU reads back what it wrote, via its key
  EXPECT_EQ(m.cpu->run().kind, VmExit::Kind::halt);
  EXPECT_EQ(read32(m, before, psp_access(kAsid)), 0x11u);
  EXPECT_EQ(read32(m, after, psp_access(kAsid)), 0x33u);
  const std::uint32_t owner_sees = read32(m, theirs, keyed(2));
  EXPECT_NE(owner_sees, 0x22u);  // garbled for its owner
  EXPECT_NE(owner_sees, 0x5ec4e7u);
  EXPECT_EQ(m.cpu->stats().foreign_pages_mapped, 1u);
}

// NPT remaps inside a block: after a flush the page shows the new frame, off the block's
// run and back onto it; code translated from a remapped page is re-translated.
TEST_P(GuestCpuTest, RemapsTakeEffectAfterAFlushOnAndOffTheBlocksRun) {
  TestMachine m = machine();
  m.load(kLoadGpa, kReadLoop);
  const auto [run_frame, elsewhere] = two_data_frames(m, 1, 2);
  m.map(kData, run_frame);
  EXPECT_EQ(next_out(m).value, 1u);
  m.map(kData, elsewhere);
  m.cpu->flush_tlb();
  EXPECT_EQ(next_out(m).value, 2u);
  m.map(kData, run_frame);
  EXPECT_EQ(next_out(m).value, 2u);  // stale until flushed
  m.cpu->flush_tlb();
  EXPECT_EQ(next_out(m).value, 1u);
  // The code page itself, remapped to a copy whose loop prints another value.
  const std::uint64_t code_copy = m.new_frame();
  m.own(code_copy, kAsid);
  // loop: mov eax, 0x77; out 0x80, eax; jmp loop
  m.mc.write(code_copy, Bytes{0xb8, 0x77, 0, 0, 0, 0xe7, 0x80, 0xeb, 0xf7}, psp_access(kAsid));
  m.map(kLoadGpa, code_copy);
  m.cpu->flush_tlb();
  EXPECT_EQ(next_out(m).value, 0x77u);
  EXPECT_EQ(next_out(m).value, 0x77u);
}

// An unmap with a flush: the next access is a nested page fault.
TEST_P(GuestCpuTest, AnUnmapWithAFlushFaultsOnTheNextAccess) {
  TestMachine m = machine();
  m.load(kLoadGpa, kReadLoop);
  const std::uint64_t data = m.frame_for(kData);
  m.own(data, kAsid);
  write32(m, data, 5, psp_access(kAsid));
  m.map(kData, data);
  EXPECT_EQ(next_out(m).value, 5u);
  m.map(kData, 0, 0);                // not present
  EXPECT_EQ(next_out(m).value, 5u);  // without a flush the translation is still cached
  m.cpu->flush_tlb();
  const VmExit e = m.cpu->run();
  ASSERT_EQ(e.kind, VmExit::Kind::nested_page_fault) << e.detail;
  EXPECT_EQ(e.fault.gpa, kData);
  EXPECT_EQ(e.fault.kind, npt::FaultKind::not_present);
}

// The stale-translation attack: the VMM unmaps a page from this VM *without* flushing
// its vCPU, the PSP scrubs the frame and hands it to VM 2, which writes a secret into it.
// The vCPU's cached translation aliased the frame's plaintext; it must not show VM 2's
// secret. The re-tag drops the cached page, so the next access re-walks: with the entry
// gone, a nested page fault; with the entry left pointing at the frame, VM 2's ciphertext
// through this VM's key.
TEST_P(GuestCpuTest, AStaleTranslationNeverShowsTheNextOwnersPlaintext) {
  for (const bool entry_left : {false, true}) {
    SCOPED_TRACE(entry_left ? "entry left in place" : "entry removed");
    TestMachine m = machine();
    m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
    m.load(kLoadGpa, kReadLoop);
    const std::uint64_t frame = m.frame_for(kData);
    m.own(frame, kAsid);
    write32(m, frame, 0x1111, psp_access(kAsid));
    m.map(kData, frame);
    EXPECT_EQ(next_out(m).value, 0x1111u);              // cached now
    if (!entry_left) m.map(kData, 0, 0);                // NPT_UNMAP, no flush
    m.mc.set_tag_zeroed(test_passkey(), frame, {}, 1);  // the PSP's scrub
    m.own(frame, 2);                                    // ... and NPT_MAP for VM 2
    constexpr std::uint32_t kSecret = 0x5ec4e7;
    write32(m, frame, kSecret, psp_access(2));  // VM 2 writes its secret
    const VmExit e = m.cpu->run();
    if (entry_left) {
      ASSERT_EQ(e.kind, VmExit::Kind::io_out) << e.detail;
      EXPECT_NE(e.value, kSecret);
      EXPECT_EQ(e.value, read32(m, frame, keyed(kAsid)));
    } else {
      ASSERT_EQ(e.kind, VmExit::Kind::nested_page_fault) << e.detail;
      EXPECT_EQ(e.fault.gpa, kData);
      EXPECT_NE(m.cpu->registers().rax, kSecret);
    }
    EXPECT_GE(m.cpu->stats().tlb_revocations, 1u);
  }
}

// Code in a page whose frame is re-tagged under a stale translation is not executed from
// the next owner's plaintext either.
TEST_P(GuestCpuTest, AStaleCodePageIsNotExecutedAfterItsFrameChangesHands) {
  TestMachine m = machine();
  m.mc.load_key(test_passkey(), 2, crypto::random_bytes(32));
  // loop: mov eax, 1; out 0x80, eax; jmp loop
  m.load(kLoadGpa, Bytes{0xb8, 1, 0, 0, 0, 0xe7, 0x80, 0xeb, 0xf7});
  EXPECT_EQ(next_out(m).value, 1u);
  const std::uint64_t frame = m.hpa_of(kLoadGpa);
  m.mc.set_tag_zeroed(test_passkey(), frame, {}, 1);
  m.own(frame, 2);
  m.mc.write(frame, Bytes{0xb8, 0x66, 0, 0, 0, 0xe7, 0x80, 0xeb, 0xf7}, psp_access(2));
  const VmExit e = m.cpu->run();
  // The entry still maps the frame, now VM 2's: fetching it through this VM's key is
  // refused rather than running either VM 2's code or stale translations.
  EXPECT_EQ(e.kind, VmExit::Kind::guest_fault) << e.detail;
}

TEST_P(GuestCpuTest, AWindowPageGetsNoRightsTheNptDoesNotGive) {
  TestMachine m = machine();
  // mov eax, [kData]; mov eax, [kData + 0x1000]: a mapped page, then its never-mapped
  // neighbour in the same block; hlt
  m.load(kLoadGpa, Bytes{0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0x8b, 0x04, 0x25, 0x00, 0x10,
                         0x30, 0x00, 0xf4});
  const std::uint64_t data = m.frame_for(kData);
  m.own(data, kAsid);
  m.map(kData, data);
  write32(m, data, 0x1111, psp_access(kAsid));
  // The frame the unmapped neighbour would get holds a secret of someone else's; the
  // guest must see a nested page fault, never these bytes.
  const std::uint64_t neighbour = data + kFrameSize;
  write32(m, neighbour, 0x5ec4e7, keyed(kAsid));
  const VmExit e = m.cpu->run();
  ASSERT_EQ(e.kind, VmExit::Kind::nested_page_fault) << e.detail;
  EXPECT_EQ(e.fault.gpa, kData + 0x1000);
  EXPECT_EQ(e.fault.kind, npt::FaultKind::not_present);
  EXPECT_EQ(m.cpu->registers().rax, 0x1111u);  // the first load ran, the second did not
}

INSTANTIATE_TEST_SUITE_P(Backings, GuestCpuTest,
                         ::testing::Values(Backing::bump, Backing::huge_pages),
                         [](const ::testing::TestParamInfo<Backing>& backing) {
                           return backing.param == Backing::bump ? "bump" : "huge_pages";
                         });

}  // namespace
}  // namespace cvmsim::hw::testing
