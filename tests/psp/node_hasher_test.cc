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

}  // namespace
}  // namespace cvmsim::psp
