// The VMM's allocator of host-physical frames. It is untrusted bookkeeping: the PSP's
// frame-owner table, not this allocator, decides whether a frame may be mapped. Free space
// is a map of free runs, so a sparse 1 TiB host costs memory per run, not per frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

namespace cvmsim::vmm {

inline constexpr std::uint64_t kFrameSize = 4096;

struct FrameRun {
  std::uint64_t hpa = 0;     // first frame's host-physical address
  std::uint64_t frames = 0;  // number of contiguous frames
};

class FrameAllocator {
 public:
  // Manages [base, base + frames * 4 KiB). `base` must be frame aligned.
  FrameAllocator(std::uint64_t base, std::uint64_t frames);

  // `frames` contiguous frames, first fit; nullopt when no run is large enough.
  std::optional<FrameRun> allocate(std::uint64_t frames);
  // `frames` contiguous frames starting at a multiple of `alignment` bytes (a power of two,
  // at least one frame), first fit: how a VMM backs guest memory with huge pages.
  std::optional<FrameRun> allocate_aligned(std::uint64_t frames, std::uint64_t alignment);
  // Returns a run; throws std::invalid_argument on a double free or a foreign range.
  void free(FrameRun run);

  [[nodiscard]] std::uint64_t free_frames() const noexcept { return free_frames_; }
  // Runs the free frames form: aligned allocations step over every run too small for them.
  [[nodiscard]] std::size_t free_runs() const noexcept { return free_runs_.size(); }
  [[nodiscard]] std::uint64_t total_frames() const noexcept { return total_frames_; }

 private:
  std::map<std::uint64_t, std::uint64_t> free_runs_;  // hpa -> frames
  std::uint64_t base_;
  std::uint64_t total_frames_;
  std::uint64_t free_frames_;
};

}  // namespace cvmsim::vmm
