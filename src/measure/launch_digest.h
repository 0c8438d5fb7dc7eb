// The launch digest: a chained hash over page records, defined once here and used by the
// provider's tools (cvmsim measure / sign-reference) and by the PSP's LAUNCH_UPDATE.
//
//   D_0 = 0^d                              (d = digest size of the suite: 32 or 48)
//   D_i = H( D_{i-1} || H(contents_i) || u16 record_size || u8 type || u8 0 || u32 0 || u64 gpa )
//
// Each record carries the page's guest-physical address and type, so moving or swapping
// pages changes the digest even when their contents are identical: the published
// "undeSErVed trust" attack on SEV relied on a digest without addresses. Zero pages record
// an all-zero contents digest. Byte-exact definition in docs/formats.md ("Launch digest").
#pragma once

#include <cstdint>

#include "common/bytes.h"
#include "crypto/suite_id.h"

namespace cvmsim::measure {

inline constexpr std::size_t kPageSize = 4096;

enum class PageType : std::uint8_t {
  firmware = 1,    // code or data supplied by the provider, encrypted into the VM
  zero = 2,        // a page the PSP fills with zeros (contents not supplied)
  vcpu_state = 3,  // the initial register state of the boot vCPU (see launch_plan.h)
};

class LaunchDigest {
 public:
  explicit LaunchDigest(crypto::SuiteId suite);

  // `contents` is exactly kPageSize bytes for firmware and vcpu_state pages and empty for
  // zero pages; `gpa` is page-aligned. Throws MeasureError{bad_firmware} otherwise.
  void extend(std::uint64_t gpa, PageType type, ByteView contents);

  [[nodiscard]] const Bytes& value() const noexcept { return digest_; }
  [[nodiscard]] std::uint64_t pages() const noexcept { return pages_; }
  [[nodiscard]] crypto::SuiteId suite() const noexcept { return suite_; }

 private:
  crypto::SuiteId suite_;
  Bytes digest_;
  std::uint64_t pages_ = 0;
};

}  // namespace cvmsim::measure
