#include "measure/reference.h"

#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "crypto/suite.h"
#include "measure/measure_error.h"

namespace cvmsim::measure {
namespace {

using crypto::SuiteId;

class ReferenceForSuite : public ::testing::TestWithParam<SuiteId> {
 protected:
  const crypto::Suite& s() const { return crypto::suite(GetParam()); }
};

TEST_P(ReferenceForSuite, SignEncodeDecodeVerify) {
  const crypto::Key provider = s().generate_key();
  const Bytes digest = s().hash(as_bytes("firmware"));
  Policy policy;
  policy.guard = GuardMode::isolate;
  const Reference ref = sign_reference(provider, policy, digest);
  const Bytes encoded = ref.encode();
  EXPECT_EQ(encoded.size(), kReferenceSignedSize + 2 + ref.signature.size());
  const Reference back = Reference::decode(encoded, "ref.bin");
  EXPECT_EQ(back.launch_digest, digest);
  EXPECT_EQ(back.policy, policy);
  EXPECT_EQ(back.suite, GetParam());
  EXPECT_NO_THROW(back.verify(provider.public_only()));
}

TEST_P(ReferenceForSuite, EveryChangedByteIsRefused) {
  const crypto::Key provider = s().generate_key();
  const Bytes encoded = sign_reference(provider, Policy{}, s().hash(as_bytes("fw"))).encode();
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    Bytes tampered = encoded;
    tampered[i] ^= 0x04;
    bool refused = false;
    try {
      Reference::decode(tampered, "ref.bin").verify(provider.public_only());
    } catch (const Error&) {
      refused = true;
    }
    EXPECT_TRUE(refused) << "byte " << i << " changed but accepted";
  }
}

TEST_P(ReferenceForSuite, OtherProviderAndTruncationRefused) {
  const crypto::Key provider = s().generate_key();
  const Reference ref = sign_reference(provider, Policy{}, s().hash(as_bytes("fw")));
  try {
    ref.verify(s().generate_key());
    FAIL();
  } catch (const MeasureError& e) {
    EXPECT_EQ(e.code(), MeasureErrc::bad_signature);
  }
  const Bytes encoded = ref.encode();
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_THROW((void)Reference::decode(ByteView(encoded).first(n), "ref.bin"), Error) << n;
  }
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_THROW((void)Reference::decode(longer, "ref.bin"), Error);
}

INSTANTIATE_TEST_SUITE_P(Suites, ReferenceForSuite, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

TEST(Reference, SuiteMismatchAndRandomInput) {
  const crypto::Key sm_key = crypto::suite(SuiteId::sm).generate_key();
  const crypto::Key nist_key = crypto::suite(SuiteId::nist).generate_key();
  EXPECT_THROW((void)sign_reference(sm_key, Policy{}, Bytes(48)), MeasureError);
  const Reference ref = sign_reference(sm_key, Policy{}, Bytes(32, 1));
  try {
    ref.verify(nist_key);
    FAIL();
  } catch (const MeasureError& e) {
    EXPECT_EQ(e.code(), MeasureErrc::suite_mismatch);
  }
  std::mt19937 rng(1);
  for (int i = 0; i < 300; ++i) {
    Bytes junk(static_cast<std::size_t>(rng() % 400));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (i % 2 == 0 && junk.size() >= 8) std::copy_n("CVMSREF1", 8, junk.begin());
    EXPECT_THROW((void)Reference::decode(junk, "junk"), Error);
  }
}

}  // namespace
}  // namespace cvmsim::measure
