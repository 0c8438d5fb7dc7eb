// Sector tags and their hash tree (crypto/sector_tags.h) against the definitions in
// docs/formats.md, computed here with OpenSSL's one-shot HMAC and digest calls.
#include "crypto/sector_tags.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>

#include "crypto/crypto_error.h"
#include "crypto/suite.h"

namespace cvmsim::crypto {
namespace {

const EVP_MD* md(SuiteId suite) {
  return suite == SuiteId::sm ? EVP_sm3() : EVP_sha256();
}

Bytes hmac(SuiteId suite, ByteView key, ByteView message) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned length = 0;
  HMAC(md(suite), key.data(), static_cast<int>(key.size()), message.data(), message.size(),
       out.data(), &length);
  out.resize(length);
  return out;
}

Bytes digest(SuiteId suite, std::uint8_t prefix, ByteView a, ByteView b = {}) {
  Bytes message{prefix};
  message.insert(message.end(), a.begin(), a.end());
  message.insert(message.end(), b.begin(), b.end());
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned length = 0;
  EVP_Digest(message.data(), message.size(), out.data(), &length, md(suite), nullptr);
  out.resize(length);
  return out;
}

class SectorTags : public ::testing::TestWithParam<SuiteId> {};

TEST_P(SectorTags, TagIsTheHmacOfTheSectorNumberAndCiphertextUnderTheDerivedKey) {
  const SuiteId suite = GetParam();
  const Bytes image_key = random_bytes(suite == SuiteId::sm ? 32 : 64);
  const Bytes ciphertext = random_bytes(3 * 512);
  Bytes tags(3 * kSectorTagSize);
  SectorTagger(suite, image_key).tag_units(40, 512, ciphertext, tags);
  const std::string label = "cvmsim-sector-tag-v1";
  const Bytes tag_key = hmac(suite, image_key, as_bytes(label));
  for (std::uint64_t i = 0; i < 3; ++i) {
    Bytes message(8);
    for (std::size_t b = 0; b < 8; ++b) message[b] = static_cast<std::uint8_t>((40 + i) >> (8 * b));
    message.insert(message.end(), ciphertext.begin() + static_cast<std::ptrdiff_t>(i * 512),
                   ciphertext.begin() + static_cast<std::ptrdiff_t>((i + 1) * 512));
    EXPECT_EQ(Bytes(tags.begin() + static_cast<std::ptrdiff_t>(i * 32),
                    tags.begin() + static_cast<std::ptrdiff_t>((i + 1) * 32)),
              hmac(suite, tag_key, message));
  }
  // The same bytes as another sector get another tag: tags cannot be moved.
  Bytes moved(kSectorTagSize);
  SectorTagger(suite, image_key).tag_units(41, 512, ByteView(ciphertext).first(512), moved);
  EXPECT_NE(moved, Bytes(tags.begin(), tags.begin() + 32));
}

TEST_P(SectorTags, FirstMismatchFindsTheAlteredSector) {
  const SuiteId suite = GetParam();
  SectorTagger tagger(suite, random_bytes(32));
  Bytes ciphertext = random_bytes(8 * 512);
  Bytes tags(8 * kSectorTagSize);
  tagger.tag_units(0, 512, ciphertext, tags);
  EXPECT_FALSE(tagger.first_mismatch(0, 512, ciphertext, tags));
  ciphertext[5 * 512 + 100] ^= 0x80;
  EXPECT_EQ(tagger.first_mismatch(0, 512, ciphertext, tags), 5u);
  EXPECT_THROW((void)tagger.first_mismatch(0, 512, ciphertext, ByteView(tags).first(32)),
               CryptoError);
}

TEST_P(SectorTags, TreeFollowsTheDefinitionAndUpdatesMatchARebuild) {
  const SuiteId suite = GetParam();
  const Bytes tags = random_bytes(3 * kSectorTagSize);
  const auto tag = [&](std::size_t i) { return ByteView(tags).subspan(i * 32, 32); };
  // Three tags: the third leaf has no sibling and moves up unchanged.
  const Bytes l0 = digest(suite, 0, tag(0)), l1 = digest(suite, 0, tag(1)),
              l2 = digest(suite, 0, tag(2));
  EXPECT_EQ(tag_tree_root(suite, tags), digest(suite, 1, digest(suite, 1, l0, l1), l2));
  EXPECT_EQ(tag_tree_root(suite, tag(0)), l0);

  std::mt19937_64 random(7);
  for (const std::uint64_t n : {1u, 2u, 5u, 64u, 1000u}) {
    TagTree tree(suite, random_bytes(n * kSectorTagSize));
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t first = random() % n;
      const std::uint64_t count = 1 + random() % (n - first);
      tree.set(first, random_bytes(count * kSectorTagSize));
      ASSERT_EQ(Bytes(tree.root().begin(), tree.root().end()), tag_tree_root(suite, tree.tags()))
          << n << " tags, set [" << first << ", +" << count << ")";
    }
    EXPECT_THROW(tree.set(n, random_bytes(32)), CryptoError);
  }
  EXPECT_THROW(TagTree(suite, Bytes{}), CryptoError);
  EXPECT_THROW(TagTree(suite, Bytes(33)), CryptoError);
}

INSTANTIATE_TEST_SUITE_P(Suites, SectorTags, ::testing::Values(SuiteId::sm, SuiteId::nist));

}  // namespace
}  // namespace cvmsim::crypto
