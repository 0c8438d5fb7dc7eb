// A key's signatures vary in DER length; Suite::max_signature_size bounds every one of them.
// Packing an authenticated image reserves that bound before it signs the tags' root.
#include <gtest/gtest.h>

#include <set>

#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

struct SignatureBound {
  SuiteId suite;
  std::size_t order_bytes;  // the curve order's size: 32 for SM2, 48 for P-384
};

class SignatureSize : public ::testing::TestWithParam<SignatureBound> {};

TEST_P(SignatureSize, EverySignatureFitsTheMaximumAndLengthsDoVary) {
  const Suite& s = suite(GetParam().suite);
  const Key key = s.generate_key();
  // SEQUENCE { INTEGER r, INTEGER s }: each integer may need one leading zero byte.
  const std::size_t der_max = 2 + 2 * (2 + GetParam().order_bytes + 1);
  EXPECT_EQ(Suite::max_signature_size(key), der_max);
  EXPECT_EQ(Suite::max_signature_size(key.public_only()), der_max);

  std::set<std::size_t> lengths;
  const Bytes message = random_bytes(64);
  for (int i = 0; i < 200; ++i) {
    const std::size_t length = s.sign(key, message).size();
    EXPECT_LE(length, der_max);
    lengths.insert(length);
  }
  // Half of all r (and s) have the top bit set, so 200 signatures of one length would
  // happen with probability about 2^-199: the reason a packer cannot assume one length.
  EXPECT_GE(lengths.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Suites, SignatureSize,
                         ::testing::Values(SignatureBound{SuiteId::sm, 32},
                                           SignatureBound{SuiteId::nist, 48}),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param.suite));
                         });

}  // namespace
}  // namespace cvmsim::crypto
