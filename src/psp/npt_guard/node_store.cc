#include "psp/npt_guard/node_store.h"

#include <algorithm>
#include <cstddef>

namespace cvmsim::psp {

bool MemoryNodeStore::reserve(std::size_t level, std::uint64_t count) {
  if (levels_.size() <= level) levels_.resize(level + 1);
  if (levels_[level].size() < count * digest_size_) levels_[level].resize(count * digest_size_, 0);
  return true;
}

ByteView MemoryNodeStore::node(std::size_t level, std::uint64_t index) const {
  return ByteView(levels_.at(level)).subspan(index * digest_size_, digest_size_);
}

void MemoryNodeStore::write(std::size_t level, std::uint64_t index, ByteView value) {
  std::copy(value.begin(), value.end(),
            levels_.at(level).begin() + static_cast<std::ptrdiff_t>(index * digest_size_));
}

std::size_t MemoryNodeStore::bytes() const {
  std::size_t total = 0;
  for (const Bytes& level : levels_) total += level.size();
  return total;
}

FrameNodeStore::FrameNodeStore(hw::Requester psp, std::size_t digest_size)
    : psp_(psp), digest_size_(digest_size), slots_per_frame_(hw::kFrameSize / digest_size) {}

bool FrameNodeStore::reserve(std::size_t level, std::uint64_t count) {
  if (levels_.size() <= level) levels_.resize(level + 1);
  auto& frames = levels_[level];
  const std::uint64_t needed = (count + slots_per_frame_ - 1) / slots_per_frame_;
  while (frames.size() < needed) {
    const std::optional<std::uint64_t> hpa = source_ && mc_ ? source_() : std::nullopt;
    if (!hpa) return false;
    // nullptr in a strict memory controller (no plaintext to point at): node() reads
    // through the controller then.
    frames.push_back({*hpa, mc_->direct_frame(*hpa, psp_, false)});
  }
  return true;
}

ByteView FrameNodeStore::node(std::size_t level, std::uint64_t index) const {
  const Frame& f = levels_[level][index / slots_per_frame_];
  const std::size_t offset = (index % slots_per_frame_) * digest_size_;
  if (f.bytes != nullptr) return {f.bytes + offset, digest_size_};
  scratch_.resize(digest_size_);
  mc_->read(f.hpa + offset, scratch_, psp_);
  return scratch_;
}

void FrameNodeStore::write(std::size_t level, std::uint64_t index, ByteView value) {
  const Frame& f = levels_[level][index / slots_per_frame_];
  mc_->write(f.hpa + (index % slots_per_frame_) * digest_size_, value, psp_);
}

std::size_t FrameNodeStore::frame_count() const {
  std::size_t n = 0;
  for (const auto& level : levels_) n += level.size();
  return n;
}

std::uint64_t FrameNodeStore::frames_for(const std::vector<std::uint64_t>& level_counts,
                                         std::size_t digest_size) {
  const std::uint64_t slots = hw::kFrameSize / digest_size;
  std::uint64_t frames = 0;
  for (std::uint64_t count : level_counts) frames += (count + slots - 1) / slots;
  return frames;
}

}  // namespace cvmsim::psp
