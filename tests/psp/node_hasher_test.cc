// The NPT guard's hash messages are the ones docs/formats.md documents.
#include "psp/npt_guard/node_hasher.h"

#include <gtest/gtest.h>

#include "crypto/suite.h"

namespace cvmsim::psp {
namespace {

TEST(NodeHasher, LeafIsTheDocumentedMessageForBothSuites) {
  for (auto id : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    NodeHasher hasher(id);
    const Bytes chunk = crypto::random_bytes(32);
    Bytes out(hasher.digest_size());
    hasher.leaf(0x1122334455667000, chunk, out);
    Bytes message{0x00, 0x00, 0x70, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    append(message, chunk);
    EXPECT_EQ(out, crypto::suite(id).hash(message)) << crypto::to_string(id);
    // The incremental interface, reused: a node of three children.
    const Bytes a = crypto::random_bytes(hasher.digest_size());
    hasher.begin(0x01);
    hasher.update(a);
    hasher.update(a);
    hasher.update(a);
    hasher.finish(out);
    Bytes node{0x01};
    append(node, a);
    append(node, a);
    append(node, a);
    EXPECT_EQ(out, crypto::suite(id).hash(node));
  }
}

// The guard hashes through libgcrypt, the suites through OpenSSL: the two must agree on
// every length (one block, padding across a block boundary, several blocks), for the
// one-shot and the incremental interface interleaved on one hasher.
TEST(NodeHasher, AgreesWithTheSuiteHashOnEveryLength) {
  for (auto id : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    NodeHasher hasher(id);
    Bytes out(hasher.digest_size());
    for (std::size_t length = 0; length <= 300; ++length) {
      const Bytes message = crypto::random_bytes(length);
      hasher.digest(message, out);
      ASSERT_EQ(out, crypto::suite(id).hash(message)) << crypto::to_string(id) << " " << length;
      if (length == 0) continue;
      hasher.begin(message[0]);
      hasher.update(ByteView(message).subspan(1, length / 2));
      hasher.update(ByteView(message).subspan(1 + length / 2));
      hasher.finish(out);
      ASSERT_EQ(out, crypto::suite(id).hash(message)) << crypto::to_string(id) << " " << length;
    }
  }
}

}  // namespace
}  // namespace cvmsim::psp
