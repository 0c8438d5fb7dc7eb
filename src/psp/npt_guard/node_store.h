// Where a Merkle tree keeps its nodes, level by level (level 0 = the leaves).
//
// FrameNodeStore is the PSP's real store: nodes live in host frames the PSP took from the
// VM's donated table pool and tagged FrameUse::merkle + write_blocked, so the memory
// controller refuses every write but the PSP's (docs/architecture.md, "Guarded NPT", says
// why reading them back unverified is sound). MemoryNodeStore keeps them in process
// memory, for unit tests of the tree alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "hw/memory_controller.h"

namespace cvmsim::psp {

class NodeStore {
 public:
  virtual ~NodeStore() = default;
  // Makes room for `count` nodes at `level` (new nodes read as zero bytes). False when
  // the store cannot grow (no frame to take).
  [[nodiscard]] virtual bool reserve(std::size_t level, std::uint64_t count) = 0;
  // The stored node: valid until the next call on the store.
  [[nodiscard]] virtual ByteView node(std::size_t level, std::uint64_t index) const = 0;
  virtual void write(std::size_t level, std::uint64_t index, ByteView value) = 0;
  // Bytes of storage held (frames count whole).
  [[nodiscard]] virtual std::size_t bytes() const = 0;
};

class MemoryNodeStore final : public NodeStore {
 public:
  explicit MemoryNodeStore(std::size_t digest_size) : digest_size_(digest_size) {}
  bool reserve(std::size_t level, std::uint64_t count) override;
  ByteView node(std::size_t level, std::uint64_t index) const override;
  void write(std::size_t level, std::uint64_t index, ByteView value) override;
  std::size_t bytes() const override;

 private:
  std::size_t digest_size_;
  std::vector<Bytes> levels_;
};

class FrameNodeStore final : public NodeStore {
 public:
  // Returns a zeroed frame tagged merkle/write_blocked for this VM, or nullopt.
  using FrameSource = std::function<std::optional<std::uint64_t>()>;

  FrameNodeStore(hw::Requester psp, std::size_t digest_size);
  // The memory controller the frames belong to (the PSP's; it outlives the store).
  void attach(hw::MemoryController& mc) { mc_ = &mc; }
  void set_frame_source(FrameSource source) { source_ = std::move(source); }

  bool reserve(std::size_t level, std::uint64_t count) override;
  ByteView node(std::size_t level, std::uint64_t index) const override;
  void write(std::size_t level, std::uint64_t index, ByteView value) override;
  std::size_t bytes() const override { return frame_count() * hw::kFrameSize; }

  [[nodiscard]] std::size_t frame_count() const;
  // Frames a store needs for the given node count per level.
  [[nodiscard]] static std::uint64_t frames_for(const std::vector<std::uint64_t>& level_counts,
                                                std::size_t digest_size);

 private:
  struct Frame {
    std::uint64_t hpa;
    const std::uint8_t* bytes;  // the frame's plaintext, read directly (PSP-owned, key 0)
  };
  mutable Bytes scratch_;               // node() in a strict memory controller
  hw::MemoryController* mc_ = nullptr;  // not owned
  hw::Requester psp_;
  std::size_t digest_size_;
  std::size_t slots_per_frame_;
  FrameSource source_;
  std::vector<std::vector<Frame>> levels_;
};

}  // namespace cvmsim::psp
