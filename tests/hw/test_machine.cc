#include "test_machine.h"

#include "common/file_io.h"
#include "crypto/suite.h"

namespace cvmsim::hw::testing {

TestMachine::TestMachine(crypto::SuiteId suite, CpuOptions options, Backing backing)
    : mc(memory, suite), editor(mc, psp_access()), backing_(backing) {
  mc.load_key(test_passkey(), kAsid, crypto::random_bytes(crypto::suite(suite).xts_key_size()));
  npt_root = new_frame();
  cpu =
      std::make_unique<GuestCpu>(mc, VcpuBinding::issue(test_passkey(), kAsid, npt_root), options);
  cpu->set_entry(kLoadGpa, kLoadGpa, 0x2);
}

std::uint64_t TestMachine::new_frame() {
  const std::uint64_t frame = next_frame_;
  next_frame_ += kFrameSize;
  return frame;  // never touched before: zero
}

std::uint64_t TestMachine::frame_for(std::uint64_t gpa) {
  constexpr std::uint64_t kBlock = 2ull << 20;
  const std::uint64_t page = gpa & ~std::uint64_t{kFrameSize - 1};
  if (backing_ == Backing::bump || !backed_.insert(page).second) return new_frame();
  auto [run, fresh] = runs_.try_emplace(page / kBlock, next_run_);
  if (fresh) next_run_ += kBlock;
  return run->second + page % kBlock;
}

void TestMachine::own(std::uint64_t hpa, std::uint32_t asid) {
  mc.set_tag(test_passkey(), hpa, {asid, asid, FrameUse::guest, FrameGuard::none});
}

void TestMachine::map(std::uint64_t gpa, std::uint64_t hpa, std::uint64_t flags) {
  const npt::Editor::TableAllocator allocate = [this] { return new_frame(); };
  editor.write_entry(*editor.leaf_entry_address(npt_root, gpa, &allocate),
                     npt::make_entry(hpa, flags));
}

void TestMachine::load(std::uint64_t gpa, ByteView image) {
  for (std::size_t done = 0; done < image.size(); done += kFrameSize) {
    const std::uint64_t frame = frame_for(gpa + done);
    own(frame, kAsid);
    const std::size_t n = std::min<std::size_t>(kFrameSize, image.size() - done);
    mc.write(frame, image.subspan(done, n), psp_access(kAsid));
    map(gpa + done, frame);
  }
}

Bytes read_guest_program(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

void TestMachine::load_file(std::uint64_t gpa, const std::string& guest_program) {
  load(gpa, read_guest_program(guest_program));
}

std::uint64_t TestMachine::hpa_of(std::uint64_t gpa) {
  const auto w = npt::walk(mc, npt_root, gpa, npt::Access::read);
  return w.ok() ? w.translation->hpa : 0;
}

RunOutcome TestMachine::run(bool map_on_fault, RunLimits limits) {
  if (!limits.host_deadline) {
    limits.host_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  }
  RunOutcome out;
  for (;;) {
    out.last = cpu->run(limits);
    switch (out.last.kind) {
      case VmExit::Kind::io_out:
        if (out.last.port == kConsolePort) out.console.push_back(static_cast<char>(out.last.value));
        if (out.last.port == kExitPort) out.exit_status = out.last.value;
        continue;
      case VmExit::Kind::nested_page_fault:
        ++out.nested_page_faults;
        if (!map_on_fault || out.last.fault.kind != npt::FaultKind::not_present) return out;
        {
          const std::uint64_t frame = frame_for(out.last.fault.gpa);
          own(frame, kAsid);
          map(out.last.fault.gpa & ~std::uint64_t{0xfff}, frame);
        }
        continue;
      default:
        return out;
    }
  }
}

}  // namespace cvmsim::hw::testing
