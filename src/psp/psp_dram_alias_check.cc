// The PSP's boot-time DRAM alias check, the countermeasure the BadRAM paper recommends
// (De Meulemeester et al., "BadRAM", IEEE S&P 2025) and AMD's firmware fix ships: before
// the platform starts, write a pattern through one address and look for it at the
// addresses that could reach the same cells.
//
// Which addresses. A tampered SPD makes a module claim an address bit its chips ignore, so
// every address with that bit set reaches the cells of the address with it clear: the
// aliases sit at a power-of-two distance. The PSP writes through the first frame of host
// memory and looks at the frame 2^k above it for every 2^k from 4 KiB up to the memory's
// size: log2(size / 4 KiB) probes (28 for 1 TiB), bounded and independent of what the
// host configured.
//
// What it cannot see: an alias at a distance that is no power of two, or one whose range
// does not include the first frame of memory (a range-limited alias, which a tampered SPD
// does not make but a hostile memory controller could). Its probes go through the memory
// controller like any access, so a controller that hid the alias from the PSP would also
// defeat it; the memory controller is trusted here.
#include <algorithm>

#include "psp/psp.h"

namespace cvmsim::psp {
namespace {

constexpr std::uint64_t kProbeFrame = 0;
constexpr std::string_view kProbeTag = "cvmsim PSP DRAM alias probe @";

// A pattern that names the address it is looked for at: a pattern left at another
// candidate by an earlier probe cannot be mistaken for this one.
Bytes probe_pattern(std::uint64_t candidate) {
  Bytes pattern(kProbeTag.begin(), kProbeTag.end());
  for (int i = 0; i < 8; ++i) pattern.push_back(static_cast<std::uint8_t>(candidate >> (8 * i)));
  return pattern;
}

}  // namespace

Result Psp::probe_dram_aliases() {
  const std::uint64_t size = mc_.memory().size();
  const hw::Requester firmware = as_psp();
  const auto free_host_frame = [&](std::uint64_t hpa) { return mc_.tag(hpa) == hw::FrameTag{}; };
  // Gives a probed frame back as it was: a frame that held zeros (all of DRAM at boot)
  // is returned to the host's memory, so the probe leaves no frame in use.
  const auto release = [&](std::uint64_t hpa, const Bytes& before) {
    if (all_zero(before)) {
      mc_.set_tag_zeroed(hw::PspPasskey{}, hpa, hw::FrameTag{});
    } else {
      mc_.write(hpa, before, firmware);
    }
  };
  try {
    if (!free_host_frame(kProbeFrame)) return Result::success();  // booted on used memory
    Bytes probe_before(hw::kFrameSize);
    mc_.read(kProbeFrame, probe_before, firmware);
    Result result = Result::success();
    for (std::uint64_t distance = hw::kFrameSize; distance < size; distance <<= 1) {
      const std::uint64_t candidate = kProbeFrame + distance;
      if (!free_host_frame(candidate)) continue;
      const Bytes pattern = probe_pattern(candidate);
      Bytes before(hw::kFrameSize);
      mc_.read(candidate, before, firmware);
      mc_.write(kProbeFrame, pattern, firmware);
      Bytes seen(pattern.size());
      mc_.read(candidate, seen, firmware);
      const bool pattern_was_there = std::equal(pattern.begin(), pattern.end(), before.begin());
      // Restoring the probe frame restores an alias of it too: the same cells.
      mc_.write(kProbeFrame, ByteView(probe_before).first(pattern.size()), firmware);
      if (seen == pattern && !pattern_was_there) {
        result = Result::failure(Status::dram_aliased, candidate);
        break;
      }
      release(candidate, before);
    }
    release(kProbeFrame, probe_before);
    return result;
  } catch (const std::exception&) {
    // A probe the hardware refused: the check did not complete, so the platform must not
    // start as if it had (internal_error, detail 0: no command).
    return Result::failure(Status::internal_error, 0);
  }
}

}  // namespace cvmsim::psp
