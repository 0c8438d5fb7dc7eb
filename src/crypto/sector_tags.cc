#include "crypto/sector_tags.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <string>

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

constexpr std::string_view kTagKeyLabel = "cvmsim-sector-tag-v1";

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

void finish_mac(EVP_MAC_CTX* ctx, std::uint8_t* out) {
  std::size_t length = 0;
  detail::check(EVP_MAC_final(ctx, out, &length, kSectorTagSize), "HMAC final");
  if (length != kSectorTagSize) detail::check(0, "HMAC length");
}

}  // namespace

struct SectorTagger::State {
  EvpMacCtxPtr ctx;
};

SectorTagger::SectorTagger(SuiteId suite, ByteView image_key) : state_(std::make_unique<State>()) {
  std::array<std::uint8_t, kSectorTagSize> tag_key{};
  {
    const EvpMacCtxPtr derive = keyed_hmac(suite, image_key);
    detail::check(
        EVP_MAC_update(derive.get(), reinterpret_cast<const std::uint8_t*>(kTagKeyLabel.data()),
                       kTagKeyLabel.size()),
        "HMAC update");
    finish_mac(derive.get(), tag_key.data());
  }
  state_->ctx = keyed_hmac(suite, tag_key);
  secure_wipe(tag_key);
}

SectorTagger::~SectorTagger() = default;

void SectorTagger::tag_units(std::uint64_t first_sector, std::uint32_t sector_size,
                             ByteView ciphertext, MutableByteView tags) {
  const std::size_t n = ciphertext.size() / sector_size;
  if (sector_size == 0 || ciphertext.size() % sector_size != 0 ||
      tags.size() != n * kSectorTagSize) {
    throw CryptoError(CryptoErrc::bad_length, "sector tags: not whole sectors or tag space");
  }
  EVP_MAC_CTX* ctx = state_->ctx.get();
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 8> number{};
    const std::uint64_t sector = first_sector + i;
    for (std::size_t b = 0; b < 8; ++b) number[b] = static_cast<std::uint8_t>(sector >> (8 * b));
    detail::check(EVP_MAC_init(ctx, nullptr, 0, nullptr), "HMAC init");
    detail::check(EVP_MAC_update(ctx, number.data(), number.size()), "HMAC update");
    detail::check(EVP_MAC_update(ctx, ciphertext.data() + i * sector_size, sector_size),
                  "HMAC update");
    finish_mac(ctx, tags.data() + i * kSectorTagSize);
  }
}

std::optional<std::size_t> SectorTagger::first_mismatch(std::uint64_t first_sector,
                                                        std::uint32_t sector_size,
                                                        ByteView ciphertext, ByteView tags) {
  std::array<std::uint8_t, kSectorTagSize> computed{};
  const std::size_t n = sector_size == 0 ? 0 : ciphertext.size() / sector_size;
  if (tags.size() != n * kSectorTagSize) {
    throw CryptoError(CryptoErrc::bad_length, "sector tags: tag count differs from sectors");
  }
  for (std::size_t i = 0; i < n; ++i) {
    tag_units(first_sector + i, sector_size, ciphertext.subspan(i * sector_size, sector_size),
              computed);
    if (CRYPTO_memcmp(computed.data(), tags.data() + i * kSectorTagSize, kSectorTagSize) != 0) {
      return i;
    }
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

  void leaf(const std::uint8_t* tag, std::uint8_t* out) { hash(0x00, tag, nullptr, out); }
  void parent(const std::uint8_t* left, const std::uint8_t* right, std::uint8_t* out) {
    hash(0x01, left, right, out);
  }

 private:
  void hash(std::uint8_t prefix, const std::uint8_t* a, const std::uint8_t* b, std::uint8_t* out) {
    detail::check(EVP_DigestInit_ex(ctx_.get(), md_.get(), nullptr), "digest init");
    detail::check(EVP_DigestUpdate(ctx_.get(), &prefix, 1), "digest update");
    detail::check(EVP_DigestUpdate(ctx_.get(), a, kTagRootSize), "digest update");
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
    throw CryptoError(CryptoErrc::bad_length, "tag tree: the tags are not whole 32-byte tags");
  }
  count_ = tags.size() / kSectorTagSize;
  levels_.push_back(std::move(tags));
  for (std::uint64_t n = count_;; n = (n + 1) / 2) {
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

// Recomputes the leaves of tags [first, last) and every node above them.
void TagTree::rehash(std::uint64_t first, std::uint64_t last) {
  NodeHash hash(suite_);
  const std::uint8_t* tags = levels_[0].data();
  std::uint8_t* leaves = levels_[1].data();
  for (std::uint64_t i = first; i < last; ++i) {
    hash.leaf(tags + i * kSectorTagSize, leaves + i * kTagRootSize);
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
  Bytes out(kSectorTagSize);
  finish_mac(ctx.get(), out.data());
  return out;
}

Bytes tag_tree_root(SuiteId suite, ByteView tags) {
  const TagTree tree(suite, Bytes(tags.begin(), tags.end()));
  const ByteView root = tree.root();
  return {root.begin(), root.end()};
}

}  // namespace cvmsim::crypto
