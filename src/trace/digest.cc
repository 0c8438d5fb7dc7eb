#include "trace/digest.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>
#include <memory>
#include <stdexcept>

#include "common/hex.h"
#include "trace/trace_error.h"

namespace cvmsim::trace {
namespace {

constexpr std::string_view kDomain = "cvmsim-trace-digest-v1\n";

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string canonical_events(const std::vector<Event>& events) {
  std::string out(kDomain);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    const nlohmann::json row = nlohmann::json::array(
        {e.seq, e.sim_ns, to_string(e.actor),
         e.target ? nlohmann::json(to_string(*e.target)) : nlohmann::json(nullptr), e.name,
         e.category, e.vm, e.asid, e.args});
    try {
      // nlohmann's objects are sorted maps, so keys come out in byte order; strict UTF-8
      // keeps two different byte strings from hashing alike.
      out += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
      throw TraceError(TraceErrc::malformed,
                       fmt::format("event {} (seq {}): a string is not valid UTF-8", i, e.seq));
    }
    out += '\n';
  }
  return out;
}

std::string digest(const std::vector<Event>& events) {
  const std::string data = canonical_events(events);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md.data(), &md_len) != 1) {
    // Only an OpenSSL failure (no SHA-256 in the provider, out of memory) gets here.
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  return to_hex(ByteView(md.data(), md_len));
}

}  // namespace cvmsim::trace
