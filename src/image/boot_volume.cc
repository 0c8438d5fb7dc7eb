#include "image/boot_volume.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/binary.h"
#include "common/checked.h"
#include "common/common_error.h"
#include "image/image_error.h"

namespace cvmsim::image {
namespace {

constexpr std::uint64_t kPayloadMagic = 0x4c594150534d5643ull;  // "CVMSPAYL"
constexpr std::size_t kFilesAt = 64;
constexpr std::size_t kFileEntrySize = kBootNameSize + 16;

std::uint64_t align_up(std::uint64_t v) {
  return (v + kBootBlock - 1) / kBootBlock * kBootBlock;
}

[[noreturn]] void bad(std::string_view source, std::string_view what) {
  throw ImageError(ImageErrc::bad_input, fmt::format("{}: {}", source, what));
}

void check_name(const std::string& name, std::string_view source) {
  if (name.empty() || name.size() >= kBootNameSize) {
    bad(source, fmt::format("file name '{}' must have 1..{} characters", name, kBootNameSize - 1));
  }
  for (const char c : name) {
    if (c <= 0x20 || c > 0x7e || c == '/') {
      bad(source,
          fmt::format("file name '{}' has a character outside printable ASCII or '/'", name));
    }
  }
}

// Whether [offset, offset + size) is a block-aligned range inside [lo, hi).
bool inside(std::uint64_t offset, std::uint64_t size, std::uint64_t lo, std::uint64_t hi) {
  const auto end = add_checked(offset, size);
  return offset % kBootBlock == 0 && offset >= lo && end && *end <= hi;
}

}  // namespace

Bytes BootVolumeHeader::encode() const {
  ByteWriter w;
  w.u64(kBootMagic);
  w.u32(kBootVersion);
  w.u32(static_cast<std::uint32_t>(files.size()));
  w.u64(kernel_offset);
  w.u64(kernel_size);
  w.u64(kernel_load_gpa);
  w.u64(data_offset);
  w.u64(data_size);
  w.u64(0);
  for (const BootFile& f : files) {
    w.fixed(ByteView(reinterpret_cast<const std::uint8_t*>(f.name.data()), f.name.size()),
            kBootNameSize);
    w.u64(f.offset);
    w.u64(f.size);
  }
  w.zeros(kBootBlock - w.size());
  return w.take();
}

namespace {

BootVolumeHeader decode_fields(ByteView block, std::uint64_t volume_size, std::string_view source) {
  ByteReader r(block.first(std::min<std::size_t>(block.size(), kBootBlock)), std::string(source));
  if (r.u64("magic") != kBootMagic) r.fail("magic", "is not CVMSBOOT");
  if (r.u32("version") != kBootVersion) r.fail("version", "is not 1");
  const std::uint32_t count = r.u32("file count");
  if (count > kBootMaxFiles) r.fail("file count", fmt::format("exceeds {}", kBootMaxFiles));
  BootVolumeHeader h;
  h.kernel_offset = r.u64("kernel offset");
  h.kernel_size = r.u64("kernel size");
  h.kernel_load_gpa = r.u64("kernel load GPA");
  h.data_offset = r.u64("data offset");
  h.data_size = r.u64("data size");
  r.expect_zero("reserved", 8);
  if (h.kernel_size == 0 || h.kernel_size > kMaxKernelSize ||
      !inside(h.kernel_offset, h.kernel_size, kBootBlock, volume_size)) {
    r.fail("kernel offset", "does not place 1 byte..1 MiB of kernel after the header block");
  }
  if (h.kernel_load_gpa != kKernelLoadGpa) r.fail("kernel load GPA", "is not 0x200000");
  if (h.data_size < kBootBlock || h.data_size % kBootBlock != 0 ||
      !inside(h.data_offset, h.data_size, align_up(h.kernel_offset + h.kernel_size), volume_size)) {
    r.fail("data offset", "does not place a block-aligned data area after the kernel");
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string field = fmt::format("file {} name", i);
    const ByteView raw = r.bytes(field, kBootNameSize);
    const auto nul = std::find(raw.begin(), raw.end(), std::uint8_t{0});
    if (nul == raw.end()) r.fail(field, "has no terminating NUL");
    if (std::any_of(nul, raw.end(), [](std::uint8_t b) { return b != 0; })) {
      r.fail(field, "has bytes after its NUL");
    }
    BootFile f;
    f.name.assign(raw.begin(), nul);
    check_name(f.name, source);
    f.offset = r.u64(fmt::format("file {} offset", i));
    f.size = r.u64(fmt::format("file {} size", i));
    // Files live after the data area's state block.
    if (!inside(f.offset, f.size, h.data_offset + kBootBlock, h.data_offset + h.data_size)) {
      r.fail(fmt::format("file {} offset", i), "does not lie inside the data area");
    }
    h.files.push_back(std::move(f));
  }
  return h;
}

}  // namespace

BootVolumeHeader BootVolumeHeader::decode(ByteView block, std::uint64_t volume_size,
                                          std::string_view source) {
  try {
    return decode_fields(block, volume_size, source);
  } catch (const CommonError& e) {
    // ByteReader's field errors (truncation, bad values), restated as this module's error.
    throw ImageError(ImageErrc::bad_input, e.what());
  }
}

Bytes build_boot_volume(const BootVolumeSpec& spec) {
  constexpr std::string_view kWhere = "boot volume";
  if (spec.kernel.size() < 16 || spec.kernel.size() > kMaxKernelSize) {
    bad(kWhere, fmt::format("the kernel has {} bytes (16 B..1 MiB allowed)", spec.kernel.size()));
  }
  ByteReader kernel(spec.kernel, "kernel");
  if (kernel.u64("payload magic") != kPayloadMagic) {
    bad(kWhere,
        "the kernel is not a payload image (no CVMSPAYL header: build it with "
        "guest/sdk/payload_start.S)");
  }
  if (spec.files.size() > kBootMaxFiles)
    bad(kWhere, fmt::format("more than {} files", kBootMaxFiles));
  if (spec.free_space > (1ull << 30))
    bad(kWhere, "free space above 1 GiB (the volume is built in memory)");
  std::set<std::string> names;
  BootVolumeHeader h;
  h.kernel_offset = kBootBlock;
  h.kernel_size = spec.kernel.size();
  h.data_offset = align_up(h.kernel_offset + h.kernel_size);
  std::uint64_t at = h.data_offset + kBootBlock;  // after the state block
  for (const auto& f : spec.files) {
    check_name(f.name, kWhere);
    if (!names.insert(f.name).second)
      bad(kWhere, fmt::format("file name '{}' appears twice", f.name));
    h.files.push_back({f.name, at, f.contents.size()});
    at = align_up(add_or_throw<std::uint64_t>(at, f.contents.size(), "boot volume size"));
  }
  h.data_size = add_or_throw<std::uint64_t>(at, align_up(spec.free_space), "boot volume size") -
                h.data_offset;
  Bytes volume(h.data_offset + h.data_size, 0);
  const Bytes header = h.encode();
  std::copy(header.begin(), header.end(), volume.begin());
  std::copy(spec.kernel.begin(), spec.kernel.end(),
            volume.begin() + static_cast<std::ptrdiff_t>(h.kernel_offset));
  for (std::size_t i = 0; i < spec.files.size(); ++i) {
    std::copy(spec.files[i].contents.begin(), spec.files[i].contents.end(),
              volume.begin() + static_cast<std::ptrdiff_t>(h.files[i].offset));
  }
  return volume;
}

}  // namespace cvmsim::image
