// TLB tracking for one VM, in the style of TDX's TDH.MEM.TRACK: the PSP advances the VM's
// epoch, and each of the VM's vCPUs records the epoch at which it last dropped every cached
// translation (docs/architecture.md, "TLB tracking"). A frame unmapped at epoch E may
// change hands once the epoch is past E and every vCPU has flushed past E: no vCPU can
// then hold a translation made before the unmap.
//
// This is hardware state, like the frame-tag table: only the PSP advances the epoch (it
// takes a PspPasskey) and only a GuestCpu records its flushes, when it really flushes, so
// the untrusted VMM can read the tracker but cannot claim a flush that did not happen.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>

#include "hw/memory_controller.h"

namespace cvmsim::hw {

class GuestCpu;

class TlbTracker {
 public:
  explicit TlbTracker(PspPasskey) {}

  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
  // TLB_TRACK: translations cached from now on belong to the next epoch.
  void advance(PspPasskey) noexcept { ++epoch_; }
  // True when no vCPU can hold a translation cached at `epoch` or before: the epoch has
  // advanced past it and every vCPU has flushed since.
  [[nodiscard]] bool flushed_past(std::uint64_t epoch) const noexcept {
    return epoch_ > epoch && oldest_flush() > epoch;
  }
  // The epoch of the least recent flush among the vCPUs (the current epoch without any).
  [[nodiscard]] std::uint64_t oldest_flush() const noexcept {
    std::uint64_t oldest = epoch_;
    for (const auto& [id, at] : flushed_at_) oldest = std::min(oldest, at);
    return oldest;
  }
  [[nodiscard]] std::size_t vcpus() const noexcept { return flushed_at_.size(); }

 private:
  friend class GuestCpu;
  // A new vCPU caches nothing: it counts as flushed at the current epoch.
  std::uint64_t attach() {
    flushed_at_.emplace(next_id_, epoch_);
    return next_id_++;
  }
  void detach(std::uint64_t id) noexcept { flushed_at_.erase(id); }
  void flushed(std::uint64_t id) { flushed_at_[id] = epoch_; }
  [[nodiscard]] bool behind(std::uint64_t id) const {
    const auto it = flushed_at_.find(id);
    return it != flushed_at_.end() && it->second < epoch_;
  }

  std::uint64_t epoch_ = 1;
  std::map<std::uint64_t, std::uint64_t> flushed_at_;  // vCPU -> epoch of its last flush
  std::uint64_t next_id_ = 1;
};

}  // namespace cvmsim::hw
