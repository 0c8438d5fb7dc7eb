#include "psp/npt_guard/table_guard.h"

#include <algorithm>
#include <stdexcept>

#include "hw/host_memory.h"

namespace cvmsim::psp {
namespace {

std::uint64_t page_of(std::uint64_t hpa) {
  return hpa & ~(hw::kFrameSize - 1);
}

}  // namespace

TableGuard::TableGuard(crypto::SuiteId suite, measure::NptIntegrity algorithm, hw::Requester psp)
    : suite_(suite),
      algorithm_(algorithm),
      psp_(psp),
      hasher_(suite),
      store_(psp, hasher_.digest_size()),
      tree_(hasher_, store_),
      full_value_(hasher_.digest_size(), 0),
      page_(hw::kFrameSize) {
  // The value of no committed table: both algorithms start from what a recomputation
  // over zero pages gives.
  hasher_.begin(0x02);
  hasher_.finish(full_value_);
}

TableGuard::~TableGuard() = default;

void TableGuard::set_frame_source(FrameNodeStore::FrameSource source) {
  store_.set_frame_source(std::move(source));
}

std::uint64_t TableGuard::frames_needed(std::uint64_t extra_tables) const {
  if (algorithm_ == measure::NptIntegrity::full) return 0;
  const std::uint64_t leaves = (tables_.size() + extra_tables) * kGuardChunksPerPage;
  const std::uint64_t total =
      FrameNodeStore::frames_for(MerkleTree::level_counts(leaves), hasher_.digest_size());
  return total > store_.frame_count() ? total - store_.frame_count() : 0;
}

void TableGuard::add_table(hw::MemoryController& mc, std::uint64_t table_hpa) {
  store_.attach(mc);
  index_.emplace(table_hpa, tables_.size());
  tables_.push_back(table_hpa);
}

void TableGuard::note_write(std::uint64_t entry_hpa) {
  const std::uint64_t chunk = entry_hpa & ~(kGuardChunkSize - 1);
  if (noted_.empty() || noted_.back() != chunk) noted_.push_back(chunk);
}

void TableGuard::chunk_leaf(std::uint64_t chunk_hpa, ByteView chunk, MutableByteView out) {
  // An empty chunk (no entry present) has the zero digest as its leaf, wherever it is: it
  // maps nothing, and a table page's place is the PSP's own list, not its bytes. Any other
  // chunk's leaf is a hash, which is never the zero digest but with probability 2^-8d.
  if (all_zero(chunk)) {
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    return;
  }
  hasher_.leaf(chunk_hpa, chunk, out);
}

bool TableGuard::check_chunks(hw::MemoryController& mc, std::span<const std::uint64_t> chunks) {
  if (tampered_) return false;
  if (algorithm_ == measure::NptIntegrity::full) {
    for (std::uint64_t chunk : chunks) {
      if (!is_table(page_of(chunk))) return false;  // a walk left the PSP's tables
    }
    return check_all(mc);
  }
  std::uint8_t bytes[kGuardChunkSize];
  std::uint8_t digest[kMaxDigestSize];
  const MutableByteView out(digest, hasher_.digest_size());
  for (std::uint64_t chunk : chunks) {
    const auto it = index_.find(page_of(chunk));
    if (it == index_.end()) return false;
    mc.read(chunk, bytes, psp_);
    if (it->second >= committed_) {
      if (!all_zero(bytes)) return false;  // a pending table is zeros until the PSP writes
      continue;
    }
    chunk_leaf(chunk, bytes, out);
    const std::uint64_t leaf =
        it->second * kGuardChunksPerPage + (chunk % hw::kFrameSize) / kGuardChunkSize;
    if (!equal_constant_time(out, tree_.leaf(leaf))) return false;
  }
  return true;
}

bool TableGuard::check_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages) {
  std::vector<std::uint64_t> chunks;
  chunks.reserve(pages.size() * kGuardChunksPerPage);
  for (std::uint64_t page : pages) {
    for (std::uint64_t c = 0; c < kGuardChunksPerPage; ++c) {
      chunks.push_back(page_of(page) + c * kGuardChunkSize);
    }
  }
  return check_chunks(mc, chunks);
}

bool TableGuard::pending_are_clean(hw::MemoryController& mc, std::vector<std::uint64_t>& noted) {
  std::sort(noted.begin(), noted.end());
  noted.erase(std::unique(noted.begin(), noted.end()), noted.end());
  Bytes& page = page_;
  for (std::size_t i = committed_; i < tables_.size(); ++i) {
    mc.read(tables_[i], page, psp_);
    for (std::uint64_t c = 0; c < kGuardChunksPerPage; ++c) {
      const std::uint64_t chunk = tables_[i] + c * kGuardChunkSize;
      if (std::binary_search(noted.begin(), noted.end(), chunk)) continue;
      if (!all_zero(ByteView(page).subspan(c * kGuardChunkSize, kGuardChunkSize))) return false;
    }
  }
  return true;
}

bool TableGuard::commit(hw::MemoryController& mc) {
  if (tampered_) return false;
  std::vector<std::uint64_t> noted = std::move(noted_);
  noted_.clear();
  if (!pending_are_clean(mc, noted)) {
    tampered_ = true;
    return false;
  }
  if (algorithm_ == measure::NptIntegrity::full) {
    committed_ = tables_.size();
    full_value_ = full_digest(mc, committed_);
    return true;
  }
  const std::size_t first_new = committed_;
  if (!tree_.grow(tables_.size() * kGuardChunksPerPage)) {
    // frames_needed() told the VMM how many frames to donate before any change was made.
    throw std::logic_error("NPT guard: Merkle store has no frame (accounting error)");
  }
  std::uint8_t digest[kMaxDigestSize];
  const MutableByteView out(digest, hasher_.digest_size());
  Bytes& page = page_;
  for (std::size_t i = first_new; i < tables_.size(); ++i) {
    mc.read(tables_[i], page, psp_);
    for (std::uint64_t c = 0; c < kGuardChunksPerPage; ++c) {
      const ByteView chunk = ByteView(page).subspan(c * kGuardChunkSize, kGuardChunkSize);
      // A new leaf already reads as the zero digest, an empty chunk's leaf: only the
      // chunks the PSP wrote need a hash (one or two in a fresh leaf table).
      if (all_zero(chunk)) continue;
      hasher_.leaf(tables_[i] + c * kGuardChunkSize, chunk, out);
      tree_.set_leaf(i * kGuardChunksPerPage + c, out);
    }
  }
  std::uint8_t bytes[kGuardChunkSize];
  for (std::uint64_t chunk : noted) {
    const std::uint64_t index = index_.at(page_of(chunk));
    if (index >= first_new) continue;  // hashed whole above
    mc.read(chunk, bytes, psp_);
    chunk_leaf(chunk, bytes, out);
    tree_.set_leaf(index * kGuardChunksPerPage + (chunk % hw::kFrameSize) / kGuardChunkSize, out);
  }
  committed_ = tables_.size();
  if (tree_.pending_leaves() >= kDeferredLeaves) settle();
  return true;
}

void TableGuard::settle() {
  tree_.commit();
}

void TableGuard::update_pages(hw::MemoryController& mc, std::span<const std::uint64_t>) {
  (void)commit(mc);  // a failure is latched in tampered_
}

Bytes TableGuard::full_digest(hw::MemoryController& mc, std::size_t pages) {
  hasher_.begin(0x02);
  Bytes& page = page_;
  std::uint8_t address[8];
  for (std::size_t i = 0; i < pages; ++i) {
    for (int b = 0; b < 8; ++b) address[b] = static_cast<std::uint8_t>(tables_[i] >> (8 * b));
    mc.read(tables_[i], page, psp_);
    hasher_.update(address);
    hasher_.update(page);
  }
  Bytes out(hasher_.digest_size());
  hasher_.finish(out);
  return out;
}

Bytes TableGuard::merkle_leaves(hw::MemoryController& mc, std::size_t pages) {
  const std::size_t d = hasher_.digest_size();
  Bytes leaves(pages * kGuardChunksPerPage * d);
  Bytes& page = page_;
  for (std::size_t i = 0; i < pages; ++i) {
    mc.read(tables_[i], page, psp_);
    for (std::uint64_t c = 0; c < kGuardChunksPerPage; ++c) {
      chunk_leaf(tables_[i] + c * kGuardChunkSize,
                 ByteView(page).subspan(c * kGuardChunkSize, kGuardChunkSize),
                 MutableByteView(leaves).subspan((i * kGuardChunksPerPage + c) * d, d));
    }
  }
  return leaves;
}

Bytes TableGuard::recompute(hw::MemoryController& mc) {
  if (algorithm_ == measure::NptIntegrity::full) return full_digest(mc, committed_);
  return MerkleTree::root_of(hasher_, merkle_leaves(mc, committed_));
}

bool TableGuard::check_all(hw::MemoryController& mc) {
  if (tampered_) return false;
  std::vector<std::uint64_t> noted = noted_;
  if (!pending_are_clean(mc, noted)) return false;
  return equal_constant_time(recompute(mc), value());
}

bool TableGuard::page_matches_leaves(hw::MemoryController& mc, std::uint64_t page_index) {
  std::uint8_t digest[kMaxDigestSize];
  const MutableByteView out(digest, hasher_.digest_size());
  Bytes& page = page_;
  mc.read(tables_[page_index], page, psp_);
  bool same = true;
  for (std::uint64_t c = 0; c < kGuardChunksPerPage; ++c) {
    chunk_leaf(tables_[page_index] + c * kGuardChunkSize,
               ByteView(page).subspan(c * kGuardChunkSize, kGuardChunkSize), out);
    same = equal_constant_time(out, tree_.leaf(page_index * kGuardChunksPerPage + c)) && same;
  }
  return same;
}

bool TableGuard::sweep(hw::MemoryController& mc, std::uint64_t pages) {
  if (tampered_) return false;
  if (algorithm_ == measure::NptIntegrity::full || pages == 0) return check_all(mc);
  std::vector<std::uint64_t> noted = noted_;
  if (!pending_are_clean(mc, noted)) return false;
  if (committed_ == 0) return true;
  const std::uint64_t count = std::min<std::uint64_t>(pages, committed_);
  for (std::uint64_t i = 0; i < count; ++i) {
    sweep_position_ %= committed_;
    if (!page_matches_leaves(mc, sweep_position_)) return false;
    ++sweep_position_;
  }
  return true;
}

std::size_t TableGuard::frame_bytes() const noexcept {
  return store_.bytes();
}
std::size_t TableGuard::frames() const noexcept {
  return store_.frame_count();
}

std::size_t TableGuard::directory_bytes() const noexcept {
  // Table list and page index (hpa + position each), and the store's frame list.
  return tables_.size() * 3 * sizeof(std::uint64_t) +
         store_.frame_count() * 2 * sizeof(std::uint64_t);
}

const Bytes& TableGuard::value() {
  if (algorithm_ != measure::NptIntegrity::merkle) return full_value_;
  settle();
  return tree_.root();
}

}  // namespace cvmsim::psp
