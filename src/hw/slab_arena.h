// Fixed-size, trivially destructible objects that live as long as their arena, carved from
// 2 MiB slabs of anonymous memory.
//
// Why not the heap: the memory controller's frame-tag table grows by one 6 KiB chunk for
// every 2 MiB of host memory it first re-tags, that is once per fresh guest block. From
// the heap each chunk cost a malloc, whose search grows with a fragmented heap, and one or
// two page faults, which cost tens of microseconds each on a virtualised host
// (docs/benchmarks.md, "Fresh-block faults"). A slab asks the kernel for a transparent huge page
// (MADV_HUGEPAGE), so one fault backs 341 chunks; where the kernel has none to give, its
// pages fault in as the heap's would, without the heap's bookkeeping.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace cvmsim::hw {

class SlabArena {
 public:
  static constexpr std::size_t kSlabSize = std::size_t{2} << 20;

  SlabArena(std::size_t object_size, std::size_t alignment);
  SlabArena(const SlabArena&) = delete;
  SlabArena& operator=(const SlabArena&) = delete;
  ~SlabArena();

  // A value-initialised T in the arena; it lives until the arena does. Throws
  // std::bad_alloc when the kernel gives no memory.
  template <typename T>
  T* make() {
    static_assert(std::is_trivially_destructible_v<T>, "the arena never runs destructors");
    if (sizeof(T) != object_size_ || alignof(T) > alignment_) throw std::bad_alloc();
    // Placement new into the arena's storage: the arena owns it, T needs no destructor.
    return new (allocate()) T();  // NOLINT(cppcoreguidelines-owning-memory)
  }

  // Bytes of slabs mapped (reported, e.g. in host memory accounting).
  [[nodiscard]] std::size_t mapped_bytes() const noexcept { return slabs_.size() * kSlabSize; }

 private:
  void* allocate();

  struct Unmap {
    void operator()(std::byte* slab) const noexcept;
  };
  std::size_t object_size_;
  std::size_t alignment_;
  std::vector<std::unique_ptr<std::byte, Unmap>> slabs_;
  std::size_t used_in_last_ = 0;  // bytes handed out of the newest slab
};

}  // namespace cvmsim::hw
