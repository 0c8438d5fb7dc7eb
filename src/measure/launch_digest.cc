#include "measure/launch_digest.h"

#include <fmt/format.h>

#include "common/binary.h"
#include "crypto/suite.h"
#include "measure/measure_error.h"

namespace cvmsim::measure {

LaunchDigest::LaunchDigest(crypto::SuiteId suite)
    : suite_(suite), digest_(crypto::suite(suite).digest_size(), 0) {}

void LaunchDigest::extend(std::uint64_t gpa, PageType type, ByteView contents) {
  const crypto::Suite& s = crypto::suite(suite_);
  if (gpa % kPageSize != 0) {
    throw MeasureError(MeasureErrc::bad_firmware,
                       fmt::format("launch page at GPA {:#x} is not 4 KiB aligned", gpa));
  }
  const bool zero_page = type == PageType::zero;
  if (contents.size() != (zero_page ? 0 : kPageSize)) {
    throw MeasureError(
        MeasureErrc::bad_firmware,
        fmt::format("launch page at GPA {:#x}: {} content bytes for a page of "
                    "type {}; expected {}",
                    gpa, contents.size(), static_cast<int>(type), zero_page ? 0 : kPageSize));
  }
  const std::size_t d = s.digest_size();
  const auto record_size = static_cast<std::uint16_t>(2 * d + 16);
  ByteWriter record;
  record.bytes(digest_);
  if (zero_page) {
    record.zeros(d);
  } else {
    record.bytes(s.hash(contents));
  }
  record.u16(record_size);
  record.u8(static_cast<std::uint8_t>(type));
  record.u8(0);
  record.u32(0);
  record.u64(gpa);
  digest_ = s.hash(record.data());
  ++pages_;
}

}  // namespace cvmsim::measure
