// The hash computations of the guarded NPT's `merkle` value, on one reusable OpenSSL
// digest context. A Merkle update hashes 15-20 short messages (41 to 145 bytes); creating
// a context per message through crypto::Suite::new_hash() costs about as much again as
// the hashing itself (measured: 0.78 vs 0.41 us per SM3 of 65 bytes), so the guard keeps
// one context per tree. Same algorithm as the suite's hash (SM3 or SHA-384).
//
// Domain bytes keep the three kinds of message apart (docs/formats.md, "NPT digest"):
//   chunk leaf   H(0x00 || u64le chunk_hpa || 32 bytes of table)
//   tree node    H(0x01 || child_0 || ... || child_{k-1})   (missing children: zero digest)
//   full value   H(0x02 || u64le hpa_0 || page_0 || u64le hpa_1 || page_1 || ...)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/bytes.h"
#include "crypto/suite_id.h"

namespace cvmsim::psp {

inline constexpr std::size_t kMaxDigestSize = 48;

class NodeHasher {
 public:
  explicit NodeHasher(crypto::SuiteId suite);
  NodeHasher(const NodeHasher&) = delete;
  NodeHasher& operator=(const NodeHasher&) = delete;
  ~NodeHasher();

  [[nodiscard]] std::size_t digest_size() const noexcept { return digest_size_; }

  // Incremental interface: begin(domain), update()*, finish(out) with out.size() == d.
  void begin(std::uint8_t domain);
  void update(ByteView data);
  void finish(MutableByteView out);

  // H(message) for a message that already starts with its domain byte (one EVP update:
  // each update call costs about as much as hashing 16 more bytes).
  void digest(ByteView message, MutableByteView out);
  // H(0x00 || u64le chunk_hpa || chunk), chunk.size() <= 32.
  void leaf(std::uint64_t chunk_hpa, ByteView chunk, MutableByteView out);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
  std::size_t digest_size_;
};

}  // namespace cvmsim::psp
