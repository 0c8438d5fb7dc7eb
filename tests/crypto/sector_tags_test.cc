// Sector tags and their hash tree (crypto/sector_tags.h) against the definitions in
// docs/formats.md, computed here with OpenSSL's one-shot HMAC, Poly1305, cipher and digest
// calls.
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

// E(K_blk, block): one block of SM4 or AES-256, with K_blk the first bytes of `key`.
Bytes encipher_block(SuiteId suite, ByteView key, ByteView block) {
  const EVP_CIPHER* cipher = suite == SuiteId::sm ? EVP_sm4_ecb() : EVP_aes_256_ecb();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(32);
  int length = 0, final_length = 0;
  EVP_EncryptInit_ex(ctx, cipher, nullptr, key.data(), nullptr);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  EVP_EncryptUpdate(ctx, out.data(), &length, block.data(), static_cast<int>(block.size()));
  EVP_EncryptFinal_ex(ctx, out.data() + length, &final_length);
  EVP_CIPHER_CTX_free(ctx);
  out.resize(static_cast<std::size_t>(length + final_length));
  return out;
}

Bytes poly1305(ByteView key, ByteView message) {
  Bytes out(16);
  std::size_t length = 0;
  EVP_Q_mac(nullptr, "POLY1305", nullptr, nullptr, nullptr, key.data(), key.size(), message.data(),
            message.size(), out.data(), out.size(), &length);
  out.resize(length);
  return out;
}

TEST_P(SectorTags, TagIsThePoly1305OfTheSectorNumberAndCiphertextEncipheredUnderDerivedKeys) {
  const SuiteId suite = GetParam();
  const Bytes image_key = random_bytes(suite == SuiteId::sm ? 32 : 64);
  const Bytes ciphertext = random_bytes(3 * 512);
  Bytes tags(3 * kSectorTagSize);
  SectorTagger(suite, image_key).tag_units(40, 512, ciphertext, tags);
  const Bytes poly_key =
      hmac(suite, image_key, as_bytes(std::string("cvmsim-sector-tag-v2 poly1305")));
  const Bytes block_key =
      hmac(suite, image_key, as_bytes(std::string("cvmsim-sector-tag-v2 block")));
  for (std::uint64_t i = 0; i < 3; ++i) {
    Bytes message(8);
    for (std::size_t b = 0; b < 8; ++b) message[b] = static_cast<std::uint8_t>((40 + i) >> (8 * b));
    message.insert(message.end(), ciphertext.begin() + static_cast<std::ptrdiff_t>(i * 512),
                   ciphertext.begin() + static_cast<std::ptrdiff_t>((i + 1) * 512));
    EXPECT_EQ(Bytes(tags.begin() + static_cast<std::ptrdiff_t>(i * 16),
                    tags.begin() + static_cast<std::ptrdiff_t>((i + 1) * 16)),
              encipher_block(suite, block_key, poly1305(poly_key, message)));
  }
  // The same bytes as another sector get another tag: tags cannot be moved.
  Bytes moved(kSectorTagSize);
  SectorTagger(suite, image_key).tag_units(41, 512, ByteView(ciphertext).first(512), moved);
  EXPECT_NE(moved, Bytes(tags.begin(), tags.begin() + 16));
  // Another image key gives other tags for the same ciphertext.
  Bytes other(3 * kSectorTagSize);
  SectorTagger(suite, random_bytes(image_key.size())).tag_units(40, 512, ciphertext, other);
  EXPECT_NE(other, tags);
  EXPECT_EQ(sector_tag_algorithm(suite), suite == SuiteId::sm ? "poly1305-sm4" : "poly1305-aes256");
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
  EXPECT_THROW((void)tagger.first_mismatch(0, 512, ciphertext, ByteView(tags).first(16)),
               CryptoError);
}

TEST_P(SectorTags, TreeFollowsTheDefinitionAndUpdatesMatchARebuild) {
  const SuiteId suite = GetParam();
  // 2 · 256 + 10 tags: three leaves, the last one a short page of 10 tags without a
  // sibling, which moves up unchanged.
  const std::uint64_t total = 2 * kTagsPerLeaf + 10;
  const Bytes tags = random_bytes(total * kSectorTagSize);
  const auto page = [&](std::uint64_t j) {
    const std::uint64_t first = j * kTagsPerLeaf;
    return ByteView(tags).subspan(first * kSectorTagSize,
                                  std::min(kTagsPerLeaf, total - first) * kSectorTagSize);
  };
  const Bytes l0 = digest(suite, 0, page(0)), l1 = digest(suite, 0, page(1)),
              l2 = digest(suite, 0, page(2));
  EXPECT_EQ(page(2).size(), 10 * kSectorTagSize);
  EXPECT_EQ(tag_tree_root(suite, tags), digest(suite, 1, digest(suite, 1, l0, l1), l2));
  // One page (here of 5 tags): the root is its leaf.
  EXPECT_EQ(tag_tree_root(suite, page(0).first(5 * kSectorTagSize)),
            digest(suite, 0, page(0).first(5 * kSectorTagSize)));
  // Any changed tag changes the root.
  Bytes changed = tags;
  changed[300 * kSectorTagSize + 7] ^= 1;
  EXPECT_NE(tag_tree_root(suite, changed), tag_tree_root(suite, tags));

  std::mt19937_64 random(7);
  for (const std::uint64_t n : {1u, 2u, 5u, 256u, 257u, 1000u, 3000u}) {
    TagTree tree(suite, random_bytes(n * kSectorTagSize));
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t first = random() % n;
      const std::uint64_t count = 1 + random() % (n - first);
      tree.set(first, random_bytes(count * kSectorTagSize));
      ASSERT_EQ(Bytes(tree.root().begin(), tree.root().end()), tag_tree_root(suite, tree.tags()))
          << n << " tags, set [" << first << ", +" << count << ")";
    }
    EXPECT_THROW(tree.set(n, random_bytes(kSectorTagSize)), CryptoError);
  }
  EXPECT_THROW(TagTree(suite, Bytes{}), CryptoError);
  EXPECT_THROW(TagTree(suite, Bytes(kSectorTagSize + 1)), CryptoError);
}

INSTANTIATE_TEST_SUITE_P(Suites, SectorTags, ::testing::Values(SuiteId::sm, SuiteId::nist));

}  // namespace
}  // namespace cvmsim::crypto
