#include "vmm/frame_allocator.h"

#include <stdexcept>

#include "common/checked.h"

namespace cvmsim::vmm {

FrameAllocator::FrameAllocator(std::uint64_t base, std::uint64_t frames)
    : base_(base), total_frames_(frames), free_frames_(frames) {
  if (base % kFrameSize != 0) throw std::invalid_argument("frame allocator base not aligned");
  const auto bytes = mul_or_throw<std::uint64_t>(frames, kFrameSize, "frame allocator size");
  (void)add_or_throw<std::uint64_t>(base, bytes, "frame allocator end");
  if (frames > 0) free_runs_.emplace(base, frames);
}

std::optional<FrameRun> FrameAllocator::allocate(std::uint64_t frames) {
  return allocate_aligned(frames, kFrameSize);
}

std::optional<FrameRun> FrameAllocator::allocate_aligned(std::uint64_t frames,
                                                         std::uint64_t alignment) {
  if (frames == 0 || alignment < kFrameSize || (alignment & (alignment - 1)) != 0) {
    return std::nullopt;
  }
  for (auto it = free_runs_.begin(); it != free_runs_.end(); ++it) {
    const std::uint64_t run_hpa = it->first;
    const std::uint64_t run_frames = it->second;
    const auto aligned = round_up_checked<std::uint64_t>(run_hpa, alignment);
    if (!aligned) break;  // runs are sorted: the later ones lie higher still
    const std::uint64_t skipped = (*aligned - run_hpa) / kFrameSize;
    if (skipped >= run_frames || run_frames - skipped < frames) continue;
    const std::uint64_t rest = run_frames - skipped - frames;
    free_runs_.erase(it);
    if (skipped > 0) free_runs_.emplace(run_hpa, skipped);
    if (rest > 0) free_runs_.emplace(*aligned + frames * kFrameSize, rest);
    free_frames_ -= frames;
    return FrameRun{*aligned, frames};
  }
  return std::nullopt;
}

void FrameAllocator::free(FrameRun run) {
  const auto end = add_checked<std::uint64_t>(run.hpa, run.frames * kFrameSize);
  if (run.frames == 0 || run.hpa % kFrameSize != 0 || run.hpa < base_ || !end ||
      *end > base_ + total_frames_ * kFrameSize) {
    throw std::invalid_argument("freeing frames outside the allocator's range");
  }
  const std::uint64_t freed = run.frames;
  auto next = free_runs_.lower_bound(run.hpa);
  if (next != free_runs_.end() && next->first < *end) {
    throw std::invalid_argument("double free of host frames");
  }
  if (next != free_runs_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second * kFrameSize > run.hpa) {
      throw std::invalid_argument("double free of host frames");
    }
    // Coalesce with the run before.
    if (prev->first + prev->second * kFrameSize == run.hpa) {
      run.hpa = prev->first;
      run.frames += prev->second;
      free_runs_.erase(prev);
    }
  }
  // Coalesce with the run after.
  if (next != free_runs_.end() && next->first == *end) {
    run.frames += next->second;
    free_runs_.erase(next);
  }
  free_frames_ += freed;
  free_runs_.emplace(run.hpa, run.frames);
}

}  // namespace cvmsim::vmm
