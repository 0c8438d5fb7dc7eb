// Real guest programs (guest/programs, built into build/guest) booted on the guest CPU with
// a test-only fault handler that maps zeroed frames on demand.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/guest_expectations.h"
#include "test_machine.h"

namespace cvmsim::hw::testing {
namespace {

class GuestBoot : public ::testing::TestWithParam<crypto::SuiteId> {};

TEST_P(GuestBoot, MemwalkTouchesManyPagesAndPrintsTheHostChecksum) {
  TestMachine m(GetParam());
  m.load_file(kLoadGpa, "memwalk");
  const RunOutcome out = m.run();
  EXPECT_EQ(out.last.kind, VmExit::Kind::halt) << out.last.detail;
  EXPECT_EQ(out.exit_status, 0u);
  EXPECT_EQ(out.console, fmt::format("memwalk checksum {:016x}\n", test::memwalk_checksum()));
  // 1024 dense pages + 32 sparse ones + stack, one fault each (the handler maps one page).
  EXPECT_GE(out.nested_page_faults, 1024u + 32u);
  EXPECT_EQ(m.cpu->stats().nested_page_faults, out.nested_page_faults);
  // The VMM's view of the guest's data is ciphertext: not the plaintext word memwalk wrote.
  const std::uint64_t hpa = m.hpa_of(0x1000000);
  Bytes host(8);
  Bytes owner(8);
  m.mc.read(hpa + 512, host, kHostAccess);
  m.mc.read(hpa + 512, owner, keyed(kAsid));
  EXPECT_NE(host, owner);
}

TEST_P(GuestBoot, SampleFirmwareGreetsAndHaltsWithoutAPayload) {
  TestMachine m(GetParam());
  m.load_file(kLoadGpa, "sample_firmware");
  const RunOutcome out = m.run();
  EXPECT_EQ(out.console,
            "cvmsim sample firmware: hello from a confidential VM\nno payload; halting\n");
  EXPECT_EQ(out.exit_status, 0u);
}

TEST_P(GuestBoot, SampleFirmwareRunsItsPayload) {
  TestMachine m(GetParam());
  m.load_file(kLoadGpa, "sample_firmware");
  m.load_file(0x200000, "hello_payload");
  const RunOutcome out = m.run();
  EXPECT_EQ(out.console,
            "cvmsim sample firmware: hello from a confidential VM\n"
            "running payload at 0x200010\n"
            "hello from the payload, 40 + 2 = 42\n"
            "payload returned 42\n");
  EXPECT_EQ(out.exit_status, 42u);
}

INSTANTIATE_TEST_SUITE_P(Suites, GuestBoot,
                         ::testing::Values(crypto::SuiteId::sm, crypto::SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::hw::testing
