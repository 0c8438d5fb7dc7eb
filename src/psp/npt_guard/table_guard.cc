#include "psp/npt_guard/table_guard.h"

#include "common/binary.h"
#include "crypto/suite.h"
#include "hw/host_memory.h"

namespace cvmsim::psp {
TableGuard::TableGuard(crypto::SuiteId suite, measure::NptIntegrity algorithm,
                       hw::Requester reader)
    : suite_(suite), algorithm_(algorithm), reader_(reader), tree_(suite) {}

Bytes TableGuard::page_payload(hw::MemoryController& mc, std::uint64_t hpa) const {
  ByteWriter w;
  w.u64(hpa);
  Bytes page(hw::kFrameSize);
  mc.read(hpa, page, reader_);
  w.bytes(page);
  return w.take();
}

Bytes TableGuard::full_digest(hw::MemoryController& mc) const {
  auto ctx = crypto::suite(suite_).new_hash();
  for (std::uint64_t hpa : tables_) ctx->update(page_payload(mc, hpa));
  return ctx->finish();
}

void TableGuard::add_table(hw::MemoryController& mc, std::uint64_t table_hpa) {
  index_[table_hpa] = tables_.size();
  tables_.push_back(table_hpa);
  if (algorithm_ == measure::NptIntegrity::merkle) {
    tree_.append(tree_.leaf_digest(page_payload(mc, table_hpa)));
  } else {
    full_value_ = full_digest(mc);
  }
}

bool TableGuard::check_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages) {
  if (algorithm_ == measure::NptIntegrity::full) return check_all(mc);
  for (std::uint64_t hpa : pages) {
    const auto it = index_.find(hpa);
    if (it == index_.end()) return false;  // an entry points at a page that is no table
    if (!tree_.verify(it->second, tree_.leaf_digest(page_payload(mc, hpa)), tree_.root())) {
      return false;
    }
  }
  return true;
}

bool TableGuard::check_all(hw::MemoryController& mc) {
  if (algorithm_ == measure::NptIntegrity::full) {
    return equal_constant_time(full_digest(mc), full_value_);
  }
  std::vector<Bytes> leaves;
  leaves.reserve(tables_.size());
  for (std::uint64_t hpa : tables_) leaves.push_back(tree_.leaf_digest(page_payload(mc, hpa)));
  return equal_constant_time(tree_.root_of(leaves), tree_.root());
}

void TableGuard::update_pages(hw::MemoryController& mc, std::span<const std::uint64_t> pages) {
  if (algorithm_ == measure::NptIntegrity::full) {
    full_value_ = full_digest(mc);
    return;
  }
  for (std::uint64_t hpa : pages) {
    tree_.update(index_.at(hpa), tree_.leaf_digest(page_payload(mc, hpa)));
  }
}

std::size_t TableGuard::private_bytes() const noexcept {
  return crypto::suite(suite_).digest_size() + sizeof(std::uint64_t);
}

std::size_t TableGuard::frame_bytes() const noexcept {
  if (algorithm_ == measure::NptIntegrity::full) return 0;
  return tree_.node_storage_bytes() + tables_.size() * 2 * sizeof(std::uint64_t);
}

const Bytes& TableGuard::value() const {
  return algorithm_ == measure::NptIntegrity::merkle ? tree_.root() : full_value_;
}

}  // namespace cvmsim::psp
