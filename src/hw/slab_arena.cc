#include "hw/slab_arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <utility>

namespace cvmsim::hw {

SlabArena::SlabArena(std::size_t object_size, std::size_t alignment)
    : object_size_(object_size), alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || object_size == 0 ||
      object_size > kSlabSize) {
    throw std::bad_alloc();
  }
}

SlabArena::~SlabArena() = default;

void SlabArena::Unmap::operator()(std::byte* slab) const noexcept {
  ::munmap(slab, kSlabSize);
}

void* SlabArena::allocate() {
  const std::size_t stride = (object_size_ + alignment_ - 1) / alignment_ * alignment_;
  if (slabs_.empty() || used_in_last_ + object_size_ > kSlabSize) {
    // Twice the size, then trimmed to an aligned slab: only an aligned 2 MiB range can be
    // one huge page.
    void* p = ::mmap(nullptr, 2 * kSlabSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* const reserved = static_cast<std::byte*>(p);
    const std::size_t head =
        (kSlabSize - reinterpret_cast<std::uintptr_t>(reserved) % kSlabSize) % kSlabSize;
    if (head > 0) ::munmap(reserved, head);
    ::munmap(reserved + head + kSlabSize, kSlabSize - head);
    std::unique_ptr<std::byte, Unmap> slab(reserved + head);  // unmapped should the push throw
    slabs_.push_back(std::move(slab));
    // A hint: where transparent huge pages are off, the slab keeps 4 KiB pages.
    (void)::madvise(slabs_.back().get(), kSlabSize, MADV_HUGEPAGE);
    used_in_last_ = 0;
  }
  void* object = slabs_.back().get() + used_in_last_;
  used_in_last_ += stride;
  return object;
}

}  // namespace cvmsim::hw
