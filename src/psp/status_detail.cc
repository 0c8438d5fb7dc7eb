#include "psp/status_detail.h"

#include <fmt/format.h>

#include "psp/commands.h"
#include "psp/vm_state.h"

namespace cvmsim::psp {
namespace {

// The guest's secure calls, as guests name them in their console lines.
bool is_secure_call(std::string_view command) {
  return command == "IMAGE_CERT" || command == "DISK_IO" || command == "ATTEST";
}

std::string named(std::uint64_t detail, std::string_view name, std::string_view meaning) {
  return fmt::format("detail {} = {}: {}", detail, name, meaning);
}

std::string state_detail(std::string_view command, std::uint64_t detail) {
  switch (static_cast<DiskStateDetail>(detail)) {
    case DiskStateDetail::no_disk:
      return named(detail, "no_disk", "the host attached no disk to this VM");
    case DiskStateDetail::key_already_programmed:
      return named(detail, "key_already_programmed",
                   "the image key is programmed already (one IMAGE_CERT per boot)");
    case DiskStateDetail::no_image_key:
      return named(detail, "no_image_key", "no image certificate has programmed the image key yet");
  }
  if (detail <= static_cast<std::uint64_t>(VmState::stopped)) {
    const auto state = to_string(static_cast<VmState>(detail));
    return named(detail, state,
                 fmt::format("the VM is {}, which does not allow {}", state,
                             command.empty() ? "this command" : command));
  }
  return fmt::format("detail {}", detail);
}

std::string parameter_detail(std::string_view command, std::uint64_t detail) {
  if (command == "LAUNCH_UPDATE" || command == "LAUNCH_VERIFY") {
    switch (static_cast<LaunchParameterDetail>(detail)) {
      case LaunchParameterDetail::vcpu_page_size:
        return named(detail, "vcpu_page_size", "the vCPU state page is not 4096 bytes");
      case LaunchParameterDetail::vcpu_page_magic:
        return named(detail, "vcpu_page_magic", "the vCPU state page is not CVMSVCPU version 1");
      case LaunchParameterDetail::page_type:
        return named(detail, "page_type", "a page type LAUNCH_UPDATE does not take");
      case LaunchParameterDetail::reference_suite:
        return named(detail, "reference_suite", "the reference is of the other crypto suite");
    }
    return fmt::format("detail {}: the page's length in bytes", detail);
  }
  if (command == "LAUNCH_START")
    return fmt::format("detail {:#x}: the refused policy word", detail);
  if (command == "NPT_MAP" || command == "NPT_UNMAP") {
    return fmt::format("detail {}: the page count (1..512)", detail);
  }
  if (command == "DISK_IO") {
    return fmt::format("detail {}: the length, not a multiple of the sector size", detail);
  }
  return fmt::format("detail {}: the offending value or request-page field offset", detail);
}

std::string tamper_detail(std::uint64_t detail) {
  switch (static_cast<TamperDetail>(detail)) {
    case TamperDetail::before_change:
      return named(detail, "before_change",
                   "the table differed from the PSP's stored value before this change");
    case TamperDetail::new_table_not_clean:
      return named(detail, "new_table_not_clean",
                   "a table page this change added was not clean when it was committed");
    case TamperDetail::request_walk:
      return named(detail, "request_walk",
                   "a walk for the secure call's pages read a table that differed from the "
                   "stored value");
  }
  return fmt::format("detail {}", detail);
}

std::string stop_detail(std::uint64_t detail) {
  if (detail <= static_cast<std::uint64_t>(StopReason::guest_fault)) {
    const auto reason = static_cast<StopReason>(detail);
    return named(detail, to_string(reason), "why the PSP stopped the VM");
  }
  return fmt::format("detail {}", detail);
}

std::string certificate_detail(std::uint64_t detail) {
  const auto refusal = static_cast<CertRefusal>(detail);
  if (to_string(refusal) == "unknown") return fmt::format("detail {}", detail);
  return named(detail, to_string(refusal), describe(refusal));
}

std::string detail_text(std::string_view command, Status status, std::uint64_t detail) {
  switch (status) {
    case Status::success:
      return "";
    case Status::invalid_command:
      return fmt::format("detail {}: the request-page offset of the call id", detail);
    case Status::invalid_vm:
      return fmt::format("detail {}: the VM handle, unknown to the PSP", detail);
    case Status::invalid_state:
      return state_detail(command, detail);
    case Status::invalid_parameter:
      return parameter_detail(command, detail);
    case Status::invalid_address:
      return fmt::format("detail {:#x}: the refused address (GPA, HPA or disk sector)", detail);
    case Status::resource_exhausted:
      return fmt::format(
          "detail {}: how many more are needed (table frames; private memory "
          "bytes left; 0: no free ASID or keyslot)",
          detail);
    case Status::frame_not_available:
      return fmt::format(
          "detail {:#x}: the HPA of the frame owned by another VM, the PSP or "
          "an NPT",
          detail);
    case Status::already_mapped:
      return fmt::format("detail {:#x}: the GPA mapped already", detail);
    case Status::not_mapped:
      return fmt::format("detail {:#x}: the GPA not mapped", detail);
    case Status::measurement_mismatch:
      return fmt::format("detail {}: pages measured before the compare", detail);
    case Status::bad_signature:
      return "the reference does not decode or its provider signature does not verify";
    case Status::policy_violation:
      if (command == "LAUNCH_VERIFY") {
        return fmt::format("detail {:#x}: the reference's policy word, not the launched one",
                           detail);
      }
      return fmt::format(
          "detail {}: the request contradicts the VM's policy (NPT_* on an "
          "unguarded VM, a raw disk write)",
          detail);
    case Status::npt_tampered:
      return tamper_detail(detail);
    case Status::vm_stopped:
      return stop_detail(detail);
    case Status::bad_certificate:
      return certificate_detail(detail);
    case Status::replayed_request:
      return fmt::format("detail {}: the sequence number the PSP expected", detail);
    case Status::io_error:
      return fmt::format("detail {}: the DMA tag of the failed transfer", detail);
    case Status::internal_error:
      if (is_secure_call(command)) {
        return fmt::format("detail {}: the id of the secure call whose service failed", detail);
      }
      if (detail < std::size(kCommandNames)) {
        return fmt::format("detail {} = {}: the command whose handler failed", detail,
                           kCommandNames[detail]);
      }
      return fmt::format("detail {}: the command whose handler failed", detail);
    case Status::write_protected:
      return fmt::format("detail {}: the first sector of the refused write", detail);
    case Status::tlb_not_tracked:
      return fmt::format(
          "detail {:#x}: the HPA of a frame NPT_UNMAP took, which changes hands only after "
          "TLB_TRACK and a flush of every vCPU of its VM",
          detail);
    case Status::tag_mismatch:
      return fmt::format(
          "detail {}: the data sector whose tag does not verify (tampered, replayed or moved); "
          "nothing was written to memory",
          detail);
    case Status::disk_rolled_back:
      return fmt::format("detail {} = {}", detail, to_string(static_cast<DiskRootDetail>(detail)));
    case Status::dram_aliased:
      return fmt::format(
          "detail {:#x}: the HPA where the PSP's boot-time probe found the pattern it wrote "
          "elsewhere (two addresses reach the same DRAM cells, as a tampered SPD makes them): "
          "the platform refuses to start",
          detail);
  }
  return fmt::format("detail {}", detail);
}

}  // namespace

std::string_view to_string(DiskRootDetail detail) {
  switch (detail) {
    case DiskRootDetail::root_mismatch:
      return "root_mismatch: the image's sector tags do not give the root the PSP holds "
             "for it (an older or edited image)";
    case DiskRootDetail::storage_refused:
      return "storage_refused: the PSP's non-volatile storage is edited, forged, rolled "
             "back or unreadable";
    case DiskRootDetail::storage_failed:
      return "storage_failed: the PSP could not write its non-volatile storage";
    case DiskRootDetail::unsettled_write:
      return "unsettled_write: a write cut short by a crash left a sector that matches "
             "neither its old nor its new tag";
  }
  return "unknown";
}

std::string_view to_string(CertRefusal refusal) {
  switch (refusal) {
    case CertRefusal::no_header:
      return "no_header";
    case CertRefusal::none_for_chip:
      return "none_for_chip";
    case CertRefusal::malformed:
      return "malformed";
    case CertRefusal::bad_signature:
      return "bad_signature";
    case CertRefusal::wrong_provider:
      return "wrong_provider";
    case CertRefusal::wrong_suite:
      return "wrong_suite";
    case CertRefusal::wrong_image:
      return "wrong_image";
    case CertRefusal::measurement:
      return "measurement";
    case CertRefusal::unwrap:
      return "unwrap";
    case CertRefusal::geometry:
      return "geometry";
  }
  return "unknown";
}

std::string_view describe(CertRefusal refusal) {
  switch (refusal) {
    case CertRefusal::no_header:
      return "the image's LUKS2 header does not parse";
    case CertRefusal::none_for_chip:
      return "the image has no certificate for this chip (pack it with this chip's chain)";
    case CertRefusal::malformed:
      return "the image certificate does not decode";
    case CertRefusal::bad_signature:
      return "the provider's signature over the certificate does not verify";
    case CertRefusal::wrong_provider:
      return "the certificate is not from the provider that signed the VM's reference";
    case CertRefusal::wrong_suite:
      return "the certificate is of the other crypto suite";
    case CertRefusal::wrong_image:
      return "the certificate's image UUID is not the header's";
    case CertRefusal::measurement:
      return "the VM's launch digest is not among the certificate's allowed measurements";
    case CertRefusal::unwrap:
      return "the image key is not wrapped for this chip's key-wrapping key";
    case CertRefusal::geometry:
      return "the certified data segment does not fit the attached disk";
  }
  return "unknown refusal";
}

std::string describe_refusal(std::string_view command, Status status, std::uint64_t detail) {
  const std::string text = detail_text(command, status, detail);
  return fmt::format("{} (status {}){}{}", to_string(status), static_cast<std::uint32_t>(status),
                     text.empty() ? "" : ", ", text);
}

bool status_from_number(std::uint64_t value, Status& status) {
  if (value >= kStatusCount) return false;
  status = static_cast<Status>(value);
  return true;
}

}  // namespace cvmsim::psp
