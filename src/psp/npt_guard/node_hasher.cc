#include "psp/npt_guard/node_hasher.h"

#include <gcrypt.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "crypto/suite.h"

namespace cvmsim::psp {

struct NodeHasher::Context {
  gcry_md_hd_t handle = nullptr;  // the incremental interface's state
  ~Context() { gcry_md_close(handle); }
};

namespace {

void require(gcry_error_t error, const char* what) {
  // A failing digest on an opened handle is a library fault, not an input problem: nothing
  // the VMM sends can cause it.
  if (error != 0) {
    throw std::runtime_error(std::string("NPT guard hash: ") + what + ": " + gcry_strerror(error));
  }
}

// libgcrypt must be initialised once per process before use; the guard needs no secure
// memory (its inputs are table pages, not keys).
void initialise_libgcrypt() {
  static const bool done = [] {
    if (gcry_check_version("1.10.0") == nullptr) {
      throw std::runtime_error("NPT guard hash: libgcrypt 1.10 or later is required");
    }
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    return true;
  }();
  (void)done;
}

int algorithm_of(crypto::SuiteId suite) {
  switch (suite) {
    case crypto::SuiteId::sm:
      return GCRY_MD_SM3;
    case crypto::SuiteId::nist:
      return GCRY_MD_SHA384;
  }
  throw std::logic_error("NodeHasher: unknown suite");
}

}  // namespace

NodeHasher::NodeHasher(crypto::SuiteId suite)
    : context_(std::make_unique<Context>()),
      algorithm_(algorithm_of(suite)),
      digest_size_(crypto::suite(suite).digest_size()) {
  initialise_libgcrypt();
  if (gcry_md_get_algo_dlen(algorithm_) != digest_size_) {
    throw std::logic_error("NodeHasher: libgcrypt's digest size differs from the suite's");
  }
  require(gcry_md_open(&context_->handle, algorithm_, 0), "open");
}

NodeHasher::~NodeHasher() = default;

void NodeHasher::begin(std::uint8_t domain) {
  gcry_md_reset(context_->handle);
  gcry_md_putc(context_->handle, domain);
}

void NodeHasher::update(ByteView data) {
  gcry_md_write(context_->handle, data.data(), data.size());
}

void NodeHasher::finish(MutableByteView out) {
  if (out.size() != digest_size_) throw std::logic_error("NodeHasher::finish: wrong size");
  const unsigned char* digest = gcry_md_read(context_->handle, algorithm_);
  if (digest == nullptr) require(GPG_ERR_DIGEST_ALGO, "read");
  std::copy_n(digest, digest_size_, out.begin());
}

void NodeHasher::digest(ByteView message, MutableByteView out) {
  if (out.size() != digest_size_) throw std::logic_error("NodeHasher::digest: wrong size");
  gcry_md_hash_buffer(algorithm_, out.data(), message.data(), message.size());
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
