#include "measure/launch_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/binary.h"
#include "common/checked.h"
#include "measure/measure_error.h"

namespace cvmsim::measure {

Bytes VcpuState::encode_page() const {
  ByteWriter w;
  w.bytes(as_bytes("CVMSVCPU"));
  w.u32(1);
  w.u32(0);
  w.u64(rip);
  w.u64(rsp);
  w.u64(rflags);
  w.zeros(kPageSize - w.size());
  return w.take();
}

LaunchPlan plan_firmware_launch(ByteView firmware, const GuestLayout& layout,
                                std::string_view source) {
  if (firmware.empty()) {
    throw MeasureError(MeasureErrc::bad_firmware, fmt::format("{}: firmware is empty", source));
  }
  if (firmware.size() > layout.max_firmware_size) {
    throw MeasureError(MeasureErrc::bad_firmware,
                       fmt::format("{}: firmware is {} bytes; the limit is {} bytes", source,
                                   firmware.size(), layout.max_firmware_size));
  }
  if (layout.load_gpa % kPageSize != 0) {
    throw MeasureError(MeasureErrc::bad_firmware,
                       fmt::format("firmware load GPA {:#x} is not page aligned", layout.load_gpa));
  }
  LaunchPlan plan;
  plan.firmware_size = firmware.size();
  for (std::size_t offset = 0; offset < firmware.size(); offset += kPageSize) {
    LaunchPage page;
    page.gpa = add_or_throw<std::uint64_t>(layout.load_gpa, offset, "firmware load GPA + offset");
    page.type = PageType::firmware;
    page.contents.assign(kPageSize, 0);
    const std::size_t n = std::min(kPageSize, firmware.size() - offset);
    std::copy_n(firmware.begin() + static_cast<std::ptrdiff_t>(offset), n, page.contents.begin());
    plan.pages.push_back(std::move(page));
  }
  plan.vcpu.rip = layout.load_gpa;
  plan.vcpu.rsp = layout.stack_top;
  plan.pages.push_back({kVcpuStateGpa, PageType::vcpu_state, plan.vcpu.encode_page()});
  return plan;
}

Bytes measure_plan(const LaunchPlan& plan, crypto::SuiteId suite) {
  LaunchDigest digest(suite);
  for (const auto& page : plan.pages) digest.extend(page.gpa, page.type, page.contents);
  return digest.value();
}

}  // namespace cvmsim::measure
