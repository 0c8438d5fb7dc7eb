#include "pki/chain.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "crypto/crypto_error.h"
#include "pki/pki_error.h"

namespace cvmsim::pki {
namespace {

struct StoreFree {
  void operator()(X509_STORE* s) const noexcept { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};

}  // namespace

void verify_chain(const Certificate& root, const std::vector<Certificate>& intermediates,
                  const Certificate& leaf) {
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) crypto::throw_openssl("X509 store");
  if (X509_STORE_add_cert(store.get(), root.get()) != 1) crypto::throw_openssl("trust root");
  for (const auto& c : intermediates) sk_X509_push(untrusted.get(), c.get());  // not owned
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) != 1) {
    crypto::throw_openssl("X509_STORE_CTX_init");
  }
  // Also check the root's own signature: a forged "root" with the right name must fail.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_CHECK_SS_SIGNATURE);
  const int rc = X509_verify_cert(ctx.get());
  ERR_clear_error();
  if (rc != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    X509* failed = X509_STORE_CTX_get_current_cert(ctx.get());
    const std::string who =
        failed != nullptr ? Certificate::adopt(X509_dup(failed)).subject() : leaf.subject();
    throw PkiError(PkiErrc::bad_chain,
                   fmt::format("certificate '{}' does not chain to the trusted root '{}': {} "
                               "(depth {})",
                               who, root.subject(), X509_verify_cert_error_string(err),
                               X509_STORE_CTX_get_error_depth(ctx.get())));
  }
}

bool same_certificate(const Certificate& a, const Certificate& b) {
  return X509_cmp(a.get(), b.get()) == 0 && a.der() == b.der();
}

}  // namespace cvmsim::pki
