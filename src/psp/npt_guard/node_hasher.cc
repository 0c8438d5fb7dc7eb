#include "psp/npt_guard/node_hasher.h"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "crypto/suite.h"

namespace cvmsim::psp {

struct NodeHasher::Context {
  EVP_MD* md = nullptr;
  EVP_MD_CTX* ctx = nullptr;
  ~Context() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

namespace {

void require(int ok, const char* what) {
  // A failing digest on a fetched, initialised context is an OpenSSL fault, not an input
  // problem: nothing the VMM sends can cause it.
  if (ok != 1) throw std::runtime_error(std::string("NPT guard hash: ") + what + " failed");
}

}  // namespace

NodeHasher::NodeHasher(crypto::SuiteId suite)
    : context_(std::make_unique<Context>()), digest_size_(crypto::suite(suite).digest_size()) {
  const std::string name(crypto::suite(suite).hash_name());
  context_->md = EVP_MD_fetch(nullptr, name.c_str(), nullptr);
  context_->ctx = EVP_MD_CTX_new();
  if (context_->md == nullptr || context_->ctx == nullptr) require(0, "digest fetch");
}

NodeHasher::~NodeHasher() = default;

void NodeHasher::begin(std::uint8_t domain) {
  require(EVP_DigestInit_ex(context_->ctx, context_->md, nullptr), "init");
  require(EVP_DigestUpdate(context_->ctx, &domain, 1), "update");
}

void NodeHasher::update(ByteView data) {
  require(EVP_DigestUpdate(context_->ctx, data.data(), data.size()), "update");
}

void NodeHasher::finish(MutableByteView out) {
  if (out.size() != digest_size_) throw std::logic_error("NodeHasher::finish: wrong size");
  unsigned int length = 0;
  require(EVP_DigestFinal_ex(context_->ctx, out.data(), &length), "final");
}

void NodeHasher::digest(ByteView message, MutableByteView out) {
  if (out.size() != digest_size_) throw std::logic_error("NodeHasher::digest: wrong size");
  require(EVP_DigestInit_ex(context_->ctx, context_->md, nullptr), "init");
  require(EVP_DigestUpdate(context_->ctx, message.data(), message.size()), "update");
  unsigned int length = 0;
  require(EVP_DigestFinal_ex(context_->ctx, out.data(), &length), "final");
}

void NodeHasher::leaf(std::uint64_t chunk_hpa, ByteView chunk, MutableByteView out) {
  std::uint8_t message[1 + 8 + 32];
  if (chunk.size() > 32) throw std::logic_error("NodeHasher::leaf: chunk too long");
  message[0] = 0x00;
  for (std::size_t i = 0; i < 8; ++i)
    message[1 + i] = static_cast<std::uint8_t>(chunk_hpa >> (8 * i));
  std::copy(chunk.begin(), chunk.end(), message + 9);
  digest({message, 9 + chunk.size()}, out);
}

}  // namespace cvmsim::psp
