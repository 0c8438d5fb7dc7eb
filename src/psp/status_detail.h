// What a PSP refusal's detail word means. The detail is a named code for some statuses
// (why a certificate was refused, why a VM was stopped, the VM's state) and a value for
// others (a GPA, an HPA, a count); this header names the codes, and describe_refusal turns
// (command, status, detail) into words a person can act on (docs/cli.md, "PSP statuses").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "psp/status.h"

namespace cvmsim::psp {

// Why a certificate was refused: the detail of bad_certificate (docs/formats.md, "Secure
// calls").
enum class CertRefusal : std::uint64_t {
  no_header = 1,       // the LUKS2 header does not parse
  none_for_chip = 2,   // no token for this chip
  malformed = 3,       // the certificate does not decode
  bad_signature = 4,   // the provider's signature does not verify
  wrong_provider = 5,  // not the provider that signed this VM's reference
  wrong_suite = 6,     // the certificate is of the other suite
  wrong_image = 7,     // UUID differs from the header's
  measurement = 8,     // the launch digest is not among the allowed ones
  unwrap = 9,          // the key is not wrapped for this chip
  geometry = 10,       // the data segment does not fit the attached disk
};

// The detail of invalid_state from the disk secure calls. Values from 0x10 up, so they are
// never mistaken for a VM state (the detail of invalid_state elsewhere).
enum class DiskStateDetail : std::uint64_t {
  no_disk = 0x10,                 // the host attached no disk to this VM
  key_already_programmed = 0x11,  // IMAGE_CERT once per boot: the image key is in place
  no_image_key = 0x12,            // DISK_IO before a certificate programmed the image key
};

// The detail of disk_rolled_back from IMAGE_CERT (authenticated images).
enum class DiskRootDetail : std::uint64_t {
  root_mismatch = 1,    // the image's tags give another root than the PSP's record (or,
                        // before any write, the certificate's)
  storage_refused = 2,  // the PSP's NV storage is edited, forged, rolled back or unreadable
  storage_failed = 3,   // the PSP could not write its NV storage
  unsettled_write = 4,  // a write cut short by a crash does not match either of its tags
};
std::string_view to_string(DiskRootDetail detail);

// The detail of npt_tampered from NPT_MAP / NPT_UNMAP (a secure call gives the GPA).
enum class TamperDetail : std::uint64_t {
  before_change = 1,        // the table differed from the stored value before the change
  new_table_not_clean = 2,  // a table page the change added was not clean (zero) at commit
  request_walk = 3,         // a walk for a secure call (its page or a DMA buffer) read a
                            // table that differed from the stored value
};

// The detail of invalid_parameter from LAUNCH_UPDATE / LAUNCH_VERIFY (other commands give
// the offending value: a policy word, a page count, a length, a field offset).
enum class LaunchParameterDetail : std::uint64_t {
  vcpu_page_size = 0,   // the vCPU state page is not 4096 bytes
  vcpu_page_magic = 1,  // the vCPU state page lacks CVMSVCPU version 1
  page_type = 2,        // a page type LAUNCH_UPDATE does not take
  reference_suite = 3,  // the reference is of the other suite
};

// A named detail as the detail word that goes into a Result.
template <class Code>
requires std::is_enum_v<Code>
constexpr std::uint64_t detail(Code code) {
  return static_cast<std::uint64_t>(code);
}

std::string_view to_string(CertRefusal refusal);
std::string_view describe(CertRefusal refusal);  // the one-line meaning above

// "bad_certificate (status 15), detail 2 = none_for_chip: no image certificate for this
// chip". `command` is the mailbox command or secure call ("LAUNCH_VERIFY", "IMAGE_CERT",
// "DISK_IO", ...): some details mean different things per command.
std::string describe_refusal(std::string_view command, Status status, std::uint64_t detail);

// The status whose number is `value`, if there is one.
bool status_from_number(std::uint64_t value, Status& status);

}  // namespace cvmsim::psp
