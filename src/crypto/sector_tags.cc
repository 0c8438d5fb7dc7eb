#include "crypto/sector_tags.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <string_view>

#include "crypto/crypto_error.h"
#include "crypto/openssl_ptr.h"

namespace cvmsim::crypto {
namespace {

using EvpMacPtr = std::unique_ptr<EVP_MAC, detail::OpenSslDeleter<EVP_MAC_free>>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, detail::OpenSslDeleter<EVP_MAC_CTX_free>>;
using EvpMdPtr = std::unique_ptr<EVP_MD, detail::OpenSslDeleter<EVP_MD_free>>;

const char* mac_digest(SuiteId suite) {
  return suite == SuiteId::sm ? "SM3" : "SHA256";
}

// The suite's block cipher as one-block ECB, which enciphers the Poly1305 values.
const char* block_cipher(SuiteId suite) {
  return suite == SuiteId::sm ? "SM4-ECB" : "AES-256-ECB";
}

constexpr std::string_view kPolyKeyLabel = "cvmsim-sector-tag-v2 poly1305";
constexpr std::string_view kBlockKeyLabel = "cvmsim-sector-tag-v2 block";
constexpr std::size_t kPolyKeySize = 32;  // r ‖ s (RFC 8439 §2.5; OpenSSL clamps r)

// An HMAC context holding its key: each message re-initialises it without the key, which
// OpenSSL serves from the padded key states it computed once.
EvpMacCtxPtr keyed_hmac(SuiteId suite, ByteView key) {
  const EvpMacPtr mac(detail::check_ptr(EVP_MAC_fetch(nullptr, "HMAC", nullptr), "HMAC fetch"));
  EvpMacCtxPtr ctx(detail::check_ptr(EVP_MAC_CTX_new(mac.get()), "HMAC context"));
  std::string digest = mac_digest(suite);
  const std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_end()};
  // An empty key still needs a non-null pointer (a null key means "keep the old one").
  static constexpr std::uint8_t kNoKey = 0;
  const std::uint8_t* key_data = key.empty() ? &kNoKey : key.data();
  detail::check(EVP_MAC_init(ctx.get(), key_data, key.size(), params.data()), "HMAC init");
  return ctx;
}

}  // namespace

std::string_view sector_tag_algorithm(SuiteId suite) {
  return suite == SuiteId::sm ? "poly1305-sm4" : "poly1305-aes256";
}

struct SectorTagger::State {
  EvpMacCtxPtr poly;
  std::array<std::uint8_t, kPolyKeySize> poly_key{};
  detail::EvpCipherCtxPtr block;
  Bytes computed;  // first_mismatch's tags, kept to spare an allocation per transfer

  ~State() { secure_wipe(poly_key); }
};

SectorTagger::SectorTagger(SuiteId suite, ByteView image_key) : state_(std::make_unique<State>()) {
  Bytes poly_key = suite_hmac(suite, image_key, as_bytes(kPolyKeyLabel));
  std::copy_n(poly_key.begin(), kPolyKeySize, state_->poly_key.begin());
  secure_wipe(poly_key);
  const EvpMacPtr poly(
      detail::check_ptr(EVP_MAC_fetch(nullptr, "POLY1305", nullptr), "Poly1305 fetch"));
  state_->poly.reset(detail::check_ptr(EVP_MAC_CTX_new(poly.get()), "Poly1305 context"));

  using EvpCipherPtr = std::unique_ptr<EVP_CIPHER, detail::OpenSslDeleter<EVP_CIPHER_free>>;
  const EvpCipherPtr cipher(
      detail::check_ptr(EVP_CIPHER_fetch(nullptr, block_cipher(suite), nullptr), "cipher fetch"));
  // K_blk: the first 16 (SM4) or 32 (AES-256) bytes of HMAC-M(image key, label).
  Bytes block_key = suite_hmac(suite, image_key, as_bytes(kBlockKeyLabel));
  state_->block.reset(detail::check_ptr(EVP_CIPHER_CTX_new(), "cipher context"));
  const bool keyed =
      static_cast<std::size_t>(EVP_CIPHER_get_key_length(cipher.get())) <= block_key.size() &&
      EVP_EncryptInit_ex2(state_->block.get(), cipher.get(), block_key.data(), nullptr, nullptr) ==
          1;
  secure_wipe(block_key);
  detail::check(keyed ? 1 : 0, "tag cipher init");
  detail::check(EVP_CIPHER_CTX_set_padding(state_->block.get(), 0), "tag cipher padding");
}

SectorTagger::~SectorTagger() = default;

void SectorTagger::tag_units(std::uint64_t first_sector, std::uint32_t sector_size,
                             ByteView ciphertext, MutableByteView tags) {
  const std::size_t n = sector_size == 0 ? 0 : ciphertext.size() / sector_size;
  if (sector_size == 0 || ciphertext.size() % sector_size != 0 ||
      tags.size() != n * kSectorTagSize) {
    throw CryptoError(CryptoErrc::bad_length, "sector tags: not whole sectors or tag space");
  }
  // The cipher call below takes an int length (callers pass a transfer or a pack chunk).
  if (tags.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw CryptoError(CryptoErrc::bad_length, "sector tags: more than 2 GiB of tags in one call");
  }
  if (n == 0) return;
  EVP_MAC_CTX* poly = state_->poly.get();
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 8> number{};
    const std::uint64_t sector = first_sector + i;
    for (std::size_t b = 0; b < 8; ++b) number[b] = static_cast<std::uint8_t>(sector >> (8 * b));
    // OpenSSL's Poly1305 takes its key anew for every message (a one-time key by design).
    detail::check(EVP_MAC_init(poly, state_->poly_key.data(), kPolyKeySize, nullptr),
                  "Poly1305 init");
    detail::check(EVP_MAC_update(poly, number.data(), number.size()), "Poly1305 update");
    detail::check(EVP_MAC_update(poly, ciphertext.data() + i * sector_size, sector_size),
                  "Poly1305 update");
    std::size_t length = 0;
    detail::check(EVP_MAC_final(poly, tags.data() + i * kSectorTagSize, &length, kSectorTagSize),
                  "Poly1305 final");
    if (length != kSectorTagSize) detail::check(0, "Poly1305 length");
  }
  // One call enciphers every sector's value: ECB is one block cipher call per tag.
  int written = 0;
  detail::check(EVP_EncryptUpdate(state_->block.get(), tags.data(), &written, tags.data(),
                                  static_cast<int>(tags.size())),
                "tag cipher");
  if (static_cast<std::size_t>(written) != tags.size()) detail::check(0, "tag cipher length");
}

std::optional<std::size_t> SectorTagger::first_mismatch(std::uint64_t first_sector,
                                                        std::uint32_t sector_size,
                                                        ByteView ciphertext, ByteView tags) {
  const std::size_t n = sector_size == 0 ? 0 : ciphertext.size() / sector_size;
  if (tags.size() != n * kSectorTagSize) {
    throw CryptoError(CryptoErrc::bad_length, "sector tags: tag count differs from sectors");
  }
  Bytes& computed = state_->computed;
  computed.resize(tags.size());
  tag_units(first_sector, sector_size, ciphertext, computed);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = i * kSectorTagSize;
    if (CRYPTO_memcmp(computed.data() + at, tags.data() + at, kSectorTagSize) != 0) return i;
  }
  return std::nullopt;
}

namespace {

// Tree node hashing: one digest object fetched once per tree.
class NodeHash {
 public:
  explicit NodeHash(SuiteId suite)
      : md_(detail::check_ptr(EVP_MD_fetch(nullptr, mac_digest(suite), nullptr), "digest fetch")),
        ctx_(detail::check_ptr(EVP_MD_CTX_new(), "digest context")) {}

  void leaf(const std::uint8_t* tags, std::size_t size, std::uint8_t* out) {
    hash(0x00, tags, size, nullptr, out);
  }
  void parent(const std::uint8_t* left, const std::uint8_t* right, std::uint8_t* out) {
    hash(0x01, left, kTagRootSize, right, out);
  }

 private:
  // M(prefix ‖ a[0, a_size) ‖ b[0, 32)), without b when it is null.
  void hash(std::uint8_t prefix, const std::uint8_t* a, std::size_t a_size, const std::uint8_t* b,
            std::uint8_t* out) {
    detail::check(EVP_DigestInit_ex(ctx_.get(), md_.get(), nullptr), "digest init");
    detail::check(EVP_DigestUpdate(ctx_.get(), &prefix, 1), "digest update");
    detail::check(EVP_DigestUpdate(ctx_.get(), a, a_size), "digest update");
    if (b != nullptr) detail::check(EVP_DigestUpdate(ctx_.get(), b, kTagRootSize), "digest update");
    unsigned length = 0;
    detail::check(EVP_DigestFinal_ex(ctx_.get(), out, &length), "digest final");
  }

  EvpMdPtr md_;
  detail::EvpMdCtxPtr ctx_;
};

}  // namespace

TagTree::TagTree(SuiteId suite, Bytes tags) : suite_(suite) {
  if (tags.empty() || tags.size() % kSectorTagSize != 0) {
    throw CryptoError(CryptoErrc::bad_length, "tag tree: the tags are not whole 16-byte tags");
  }
  count_ = tags.size() / kSectorTagSize;
  levels_.push_back(std::move(tags));
  for (std::uint64_t n = (count_ + kTagsPerLeaf - 1) / kTagsPerLeaf;; n = (n + 1) / 2) {
    levels_.emplace_back(n * kTagRootSize);
    if (n == 1) break;
  }
  rehash(0, count_);
}

TagTree::TagTree(TagTree&&) noexcept = default;
TagTree& TagTree::operator=(TagTree&&) noexcept = default;
TagTree::~TagTree() = default;

ByteView TagTree::root() const {
  return levels_.back();
}

ByteView TagTree::tags(std::uint64_t first, std::uint64_t n) const {
  if (first > count_ || n > count_ - first) {
    throw CryptoError(CryptoErrc::bad_length, "tag tree: range outside the tags");
  }
  return ByteView(levels_.front()).subspan(first * kSectorTagSize, n * kSectorTagSize);
}

void TagTree::set(std::uint64_t first, ByteView tags) {
  const std::uint64_t n = tags.size() / kSectorTagSize;
  if (tags.size() % kSectorTagSize != 0 || first > count_ || n > count_ - first) {
    throw CryptoError(CryptoErrc::bad_length, "tag tree: range outside the tags");
  }
  std::copy(tags.begin(), tags.end(),
            levels_.front().begin() + static_cast<std::ptrdiff_t>(first * kSectorTagSize));
  if (n != 0) rehash(first, first + n);
}

// Recomputes the leaves over tags [first, last) and every node above them.
void TagTree::rehash(std::uint64_t first, std::uint64_t last) {
  NodeHash hash(suite_);
  const ByteView tags = levels_[0];
  std::uint8_t* leaves = levels_[1].data();
  first /= kTagsPerLeaf;
  last = (last + kTagsPerLeaf - 1) / kTagsPerLeaf;
  for (std::uint64_t j = first; j < last; ++j) {
    const std::uint64_t begin = j * kTagsPerLeaf * kSectorTagSize;
    const std::uint64_t size =
        std::min<std::uint64_t>(kTagsPerLeaf * kSectorTagSize, tags.size() - begin);
    hash.leaf(tags.data() + begin, size, leaves + j * kTagRootSize);
  }
  for (std::size_t l = 2; l < levels_.size(); ++l) {
    const std::uint64_t below = levels_[l - 1].size() / kTagRootSize;
    first /= 2;
    last = (last + 1) / 2;
    const std::uint8_t* child = levels_[l - 1].data();
    std::uint8_t* node = levels_[l].data();
    for (std::uint64_t i = first; i < last; ++i) {
      const std::uint64_t left = 2 * i;
      if (left + 1 < below) {
        hash.parent(child + left * kTagRootSize, child + (left + 1) * kTagRootSize,
                    node + i * kTagRootSize);
      } else {
        std::copy_n(child + left * kTagRootSize, kTagRootSize, node + i * kTagRootSize);
      }
    }
  }
}

Bytes suite_hmac(SuiteId suite, ByteView key, ByteView message) {
  const EvpMacCtxPtr ctx = keyed_hmac(suite, key);
  detail::check(EVP_MAC_update(ctx.get(), message.data(), message.size()), "HMAC update");
  Bytes out(kSuiteHmacSize);
  std::size_t length = 0;
  detail::check(EVP_MAC_final(ctx.get(), out.data(), &length, out.size()), "HMAC final");
  if (length != out.size()) detail::check(0, "HMAC length");
  return out;
}

Bytes tag_tree_root(SuiteId suite, ByteView tags) {
  const TagTree tree(suite, Bytes(tags.begin(), tags.end()));
  const ByteView root = tree.root();
  return {root.begin(), root.end()};
}

}  // namespace cvmsim::crypto
