// Sector tags and the hash tree over them: what makes an authenticated image
// (`cvmsim pack --integrity`, docs/formats.md "Sector tags") tamper- and replay-evident.
//
// Every data sector's ciphertext gets a 32-byte tag, HMAC-M(K_tag, u64le(sector) ‖
// ciphertext), so a tag cannot be moved to another sector; K_tag = HMAC-M(image key,
// "cvmsim-sector-tag-v1"). A binary hash tree over the tags gives a 32-byte root, which the
// certificate signs at pack time and the PSP's non-volatile storage keeps current, so that
// putting back an older sector together with its (valid) older tag changes the root.
// M is SM3 in the sm suite and SHA-256 in nist: SHA-256, not the suite's SHA-384, because
// x86's SHA extensions run it at several times the speed, and the tags are on every disk
// read.
//
// Encrypt-then-MAC: the tags cover ciphertext, so the disk controller checks a sector before
// it decrypts it, and anyone holding the image key can verify an image
// (scripts/verify_image_tags.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"

namespace cvmsim::crypto {

inline constexpr std::size_t kSectorTagSize = 32;
inline constexpr std::size_t kTagRootSize = 32;

// Computes sector tags. One object per thread: it keeps an OpenSSL MAC context.
class SectorTagger {
 public:
  // Derives K_tag from the image key. Throws CryptoError{library} if OpenSSL fails.
  SectorTagger(SuiteId suite, ByteView image_key);
  SectorTagger(const SectorTagger&) = delete;
  SectorTagger& operator=(const SectorTagger&) = delete;
  ~SectorTagger();

  // The tags of the consecutive sectors in `ciphertext` (whole sectors of `sector_size`,
  // the first one numbered `first_sector`) into `tags` (32 bytes per sector).
  void tag_units(std::uint64_t first_sector, std::uint32_t sector_size, ByteView ciphertext,
                 MutableByteView tags);
  // Checks the sectors against `tags`: the index in `ciphertext` of the first sector whose
  // tag differs, or none. Compares in constant time per sector.
  std::optional<std::size_t> first_mismatch(std::uint64_t first_sector, std::uint32_t sector_size,
                                            ByteView ciphertext, ByteView tags);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The hash tree over an image's tags: leaf i = H(0x00 ‖ tag i), a parent = H(0x01 ‖ left ‖
// right), a node without a right sibling moves up unchanged, the root is the one node
// left (H = M above). Keeps every level, so that changing k tags costs k·log2(n) hashes.
class TagTree {
 public:
  // `tags`: n ≥ 1 tags of 32 bytes. Throws CryptoError{bad_length} otherwise.
  TagTree(SuiteId suite, Bytes tags);
  TagTree(TagTree&&) noexcept;
  TagTree& operator=(TagTree&&) noexcept;
  ~TagTree();

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] ByteView root() const;
  [[nodiscard]] ByteView tags() const noexcept { return levels_.front(); }
  [[nodiscard]] ByteView tags(std::uint64_t first, std::uint64_t n) const;
  // Replaces tags [first, first + tags.size() / 32) and the nodes above them. The range
  // must lie inside the tree (throws CryptoError{bad_length} otherwise).
  void set(std::uint64_t first, ByteView tags);

 private:
  void rehash(std::uint64_t first, std::uint64_t last);

  SuiteId suite_;
  std::uint64_t count_ = 0;
  // levels_[0]: the tags; levels_[1]: the leaves; then one level per height up to the root.
  std::vector<Bytes> levels_;
};

// HMAC-M(key, message), M as above (32 bytes): the tags' MAC, and the seal of the PSP's
// non-volatile storage (psp/nv_storage.h). Throws CryptoError{library} if OpenSSL fails.
Bytes suite_hmac(SuiteId suite, ByteView key, ByteView message);

// The root of the tree over `tags` without keeping the tree.
Bytes tag_tree_root(SuiteId suite, ByteView tags);

}  // namespace cvmsim::crypto
