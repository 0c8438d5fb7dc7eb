#include "psp/private_memory.h"

namespace cvmsim::psp {

PrivateMemory::Allocation& PrivateMemory::Allocation::operator=(Allocation&& other) noexcept {
  if (this != &other) {
    release();
    memory_ = other.memory_;
    owner_ = other.owner_;
    size_ = other.size_;
    other.memory_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void PrivateMemory::Allocation::release() noexcept {
  if (memory_ != nullptr && size_ != 0) memory_->give_back(owner_, size_);
  memory_ = nullptr;
  size_ = 0;
}

bool PrivateMemory::try_allocate(MemoryOwner owner, std::size_t size, Allocation& out) {
  if (size > budget_ - used_) return false;
  used_ += size;
  per_owner_[owner] += size;
  out = Allocation(this, owner, size);
  return true;
}

std::size_t PrivateMemory::used_by(MemoryOwner owner) const {
  const auto it = per_owner_.find(owner);
  return it == per_owner_.end() ? 0 : it->second;
}

void PrivateMemory::give_back(MemoryOwner owner, std::size_t size) noexcept {
  used_ -= size;
  auto it = per_owner_.find(owner);
  if (it != per_owner_.end()) {
    it->second -= size;
    if (it->second == 0) per_owner_.erase(it);
  }
}

}  // namespace cvmsim::psp
