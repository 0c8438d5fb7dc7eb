// The hash computations of the guarded NPT's `merkle` value. A single-page NPT_MAP hashes
// a handful of short messages at once (the chunks its walk reads and the one it writes,
// 41 bytes each) and its share of the batched 97- to 145-byte nodes above them, so the
// per-message cost decides its latency.
// They go through libgcrypt, not OpenSSL's EVP interface: the same algorithms (SM3,
// SHA-384; cross-checked against the suite's OpenSSL hash in tests/psp), but OpenSSL
// spends about 140 ns per message on EVP bookkeeping on top of the compression function,
// libgcrypt's one-shot gcry_md_hash_buffer about 20 (measured here: a 97-byte SM3 node
// 462 vs 319 ns, a 145-byte SHA-384 node 509 vs 405 ns; docs/benchmarks.md, "NPT_MAP in
// the PSP"). Everything else in the project hashes through OpenSSL.
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

  // H(message) for a message that already starts with its domain byte (one call).
  void digest(ByteView message, MutableByteView out);
  // H(0x00 || u64le chunk_hpa || chunk), chunk.size() <= 32.
  void leaf(std::uint64_t chunk_hpa, ByteView chunk, MutableByteView out);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
  int algorithm_;  // libgcrypt's identifier
  std::size_t digest_size_;
};

}  // namespace cvmsim::psp
