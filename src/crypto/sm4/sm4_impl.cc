// Names of the SM4 implementations, which ones this CPU can run, and the choice between them.
#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <string>

#include "crypto/crypto_error.h"
#include "crypto/sm4/cpu_features.h"
#include "crypto/sm4/kernel_select.h"
#include "crypto/sm4/sm4_xts_fast.h"
#include "crypto/xts_driver.h"

namespace cvmsim::crypto {
namespace {

constexpr std::array kAllImpls = {Sm4Impl::portable, Sm4Impl::aesni, Sm4Impl::gfni_avx2,
                                  Sm4Impl::gfni_avx512};  // slowest first

std::string_view requirement(Sm4Impl impl) {
  switch (impl) {
    case Sm4Impl::portable:
      return "nothing";
    case Sm4Impl::aesni:
      return "AES-NI and AVX2 with OS support for AVX state";
    case Sm4Impl::gfni_avx2:
      return "GFNI and AVX2 with OS support for AVX state";
    case Sm4Impl::gfni_avx512:
      return "GFNI and AVX-512 F/BW/VL with OS support for AVX-512 state";
  }
  return "?";
}

std::string available_list() {
  std::string names;
  for (Sm4Impl impl : available_sm4_impls()) {
    if (!names.empty()) names += ", ";
    names += to_string(impl);
  }
  return names;
}

}  // namespace

std::string_view to_string(Sm4Impl impl) {
  switch (impl) {
    case Sm4Impl::portable:
      return "portable";
    case Sm4Impl::aesni:
      return "aesni";
    case Sm4Impl::gfni_avx2:
      return "gfni_avx2";
    case Sm4Impl::gfni_avx512:
      return "gfni_avx512";
  }
  return "unknown";
}

std::optional<Sm4Impl> parse_sm4_impl(std::string_view name) {
  for (Sm4Impl impl : kAllImpls) {
    if (to_string(impl) == name) return impl;
  }
  return std::nullopt;
}

bool sm4_impl_available(Sm4Impl impl) {
  return sm4::impl_supported(impl, sm4::cpu_features());
}

std::vector<Sm4Impl> available_sm4_impls() {
  std::vector<Sm4Impl> impls;
  for (Sm4Impl impl : kAllImpls) {
    if (sm4_impl_available(impl)) impls.push_back(impl);
  }
  return impls;
}

Sm4Impl best_sm4_impl() {
  return available_sm4_impls().back();
}

Sm4Impl default_sm4_impl() {
  const char* forced = std::getenv(std::string(kSm4ImplEnvVar).c_str());
  if (forced == nullptr || *forced == '\0') return best_sm4_impl();
  const std::optional<Sm4Impl> impl = parse_sm4_impl(forced);
  if (!impl) {
    throw CryptoError(CryptoErrc::library,
                      fmt::format("{}={}: unknown SM4 implementation (expected portable, aesni, "
                                  "gfni_avx2 or gfni_avx512; this CPU has {})",
                                  kSm4ImplEnvVar, forced, available_list()));
  }
  if (!sm4_impl_available(*impl)) {
    throw CryptoError(CryptoErrc::library,
                      fmt::format("{}={}: this CPU cannot run it (it needs {}; available: {})",
                                  kSm4ImplEnvVar, forced, requirement(*impl), available_list()));
  }
  return *impl;
}

namespace sm4 {

bool impl_supported(Sm4Impl impl, const CpuFeatures& f) {
  switch (impl) {
    case Sm4Impl::portable:
      return true;
    case Sm4Impl::aesni:
      return f.aes && f.avx2 && f.os_ymm;
    case Sm4Impl::gfni_avx2:
      return f.gfni && f.avx2 && f.os_ymm;
    case Sm4Impl::gfni_avx512:
      return f.gfni && f.avx512f && f.avx512bw && f.avx512vl && f.os_zmm;
  }
  return false;
}

const Kernels& checked_kernels(Sm4Impl impl) {
  if (!sm4_impl_available(impl)) {
    throw CryptoError(CryptoErrc::library,
                      fmt::format("SM4 implementation {} needs {}, which this CPU lacks "
                                  "(available: {})",
                                  to_string(impl), requirement(impl), available_list()));
  }
  switch (impl) {
    case Sm4Impl::portable:
      return kPortableKernels;
    case Sm4Impl::aesni:
      return kAesniAvx2Kernels;
    case Sm4Impl::gfni_avx2:
      return kGfniAvx2Kernels;
    case Sm4Impl::gfni_avx512:
      return kGfniAvx512Kernels;
  }
  return kPortableKernels;
}

}  // namespace sm4

MakeTweaksFn fastest_make_tweaks() {
  return sm4::checked_kernels(best_sm4_impl()).make_tweaks;
}

}  // namespace cvmsim::crypto
