// Sector tags and the hash tree over them: what makes an authenticated image
// (`cvmsim pack --integrity`, docs/formats.md "Sector tags") tamper- and replay-evident.
//
// Every data sector's ciphertext gets a 16-byte tag
//     E(K_blk, Poly1305(K_poly, u64le(sector) ‖ ciphertext))
// where E is one block of the suite's block cipher (SM4 or AES-256) and both keys are
// derived from the image key with HMAC-M. Poly1305 with a fixed key is a universal hash, not
// a MAC (its one-time key would leak); enciphering its output with an independent key makes
// the whole a PRF, the Carter-Wegman "hash then encipher" construction, with a forgery
// probability of about q²·2^-95 after q tags of 4 KiB sectors. Why not HMAC: the tags are on
// every disk read, and HMAC-SM3 runs at 0.25 GB/s per core against Poly1305's 5 GB/s (AVX2).
// The sector number in the message keeps a tag from being moved to another sector.
//
// A binary hash tree over the tags gives a 32-byte root, which the certificate signs at pack
// time and the PSP's non-volatile storage keeps current, so that putting back an older
// sector together with its (valid) older tag changes the root. M is SM3 in the sm suite and
// SHA-256 in nist: SHA-256, not the suite's SHA-384, because x86's SHA extensions run it at
// several times the speed.
//
// Encrypt-then-MAC: the tags cover ciphertext, so the disk controller checks a sector before
// it decrypts it, and anyone holding the image key can verify an image
// (scripts/verify_image_tags.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"

namespace cvmsim::crypto {

inline constexpr std::size_t kSectorTagSize = 16;
inline constexpr std::size_t kTagRootSize = 32;
inline constexpr std::size_t kSuiteHmacSize = 32;

// The tags' construction by name, as the LUKS2 tag-area token shows it: "poly1305-sm4" or
// "poly1305-aes256".
std::string_view sector_tag_algorithm(SuiteId suite);

// Computes sector tags. One object per thread: it keeps OpenSSL MAC and cipher contexts.
class SectorTagger {
 public:
  // Derives K_poly and K_blk from the image key. Throws CryptoError{library} if OpenSSL
  // fails.
  SectorTagger(SuiteId suite, ByteView image_key);
  SectorTagger(const SectorTagger&) = delete;
  SectorTagger& operator=(const SectorTagger&) = delete;
  ~SectorTagger();

  // The tags of the consecutive sectors in `ciphertext` (whole sectors of `sector_size`,
  // the first one numbered `first_sector`) into `tags` (16 bytes per sector).
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

// The hash tree over an image's tags. A leaf covers a tag page, the 256 tags of 256
// consecutive sectors (4 KiB, the last page possibly shorter): leaf j = M(0x00 ‖ tags
// 256j … 256j + 255). A parent = M(0x01 ‖ left ‖ right), a node without a right sibling
// moves up unchanged, the root is the one node left. Pages rather than single tags as
// leaves: a boot hashes every leaf, and one hash per 17-byte leaf cost more than reading the
// sectors; a page costs one hash per 256 sectors. Keeps every level, so that changing the
// tags of k pages costs k·log2(n) hashes.
inline constexpr std::uint64_t kTagsPerLeaf = 256;

class TagTree {
 public:
  // `tags`: n ≥ 1 tags of 16 bytes. Throws CryptoError{bad_length} otherwise.
  TagTree(SuiteId suite, Bytes tags);
  TagTree(TagTree&&) noexcept;
  TagTree& operator=(TagTree&&) noexcept;
  ~TagTree();

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] ByteView root() const;
  [[nodiscard]] ByteView tags() const noexcept { return levels_.front(); }
  [[nodiscard]] ByteView tags(std::uint64_t first, std::uint64_t n) const;
  // Replaces tags [first, first + tags.size() / 16) and the nodes above them. The range
  // must lie inside the tree (throws CryptoError{bad_length} otherwise).
  void set(std::uint64_t first, ByteView tags);

 private:
  void rehash(std::uint64_t first, std::uint64_t last);

  SuiteId suite_;
  std::uint64_t count_ = 0;
  // levels_[0]: the tags; levels_[1]: the leaves; then one level per height up to the root.
  std::vector<Bytes> levels_;
};

// HMAC-M(key, message), M as above (32 bytes): the tag keys' derivation, and the seal of the
// PSP's non-volatile storage (psp/nv_storage.h). Throws CryptoError{library} if OpenSSL fails.
Bytes suite_hmac(SuiteId suite, ByteView key, ByteView message);

// The root of the tree over `tags` without keeping the tree.
Bytes tag_tree_root(SuiteId suite, ByteView tags);

}  // namespace cvmsim::crypto
