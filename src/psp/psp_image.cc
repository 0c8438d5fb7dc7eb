// The image-certificate service and PSP-mediated disk I/O.
//
// IMAGE_CERT: the guest passes the LUKS2 header it read from the head of its disk. The
// PSP finds the token for this chip, verifies the certificate (provider signature, the
// provider that signed this VM's reference, this chip, this suite, the launch digest when
// the certificate lists allowed ones, the header's UUID), unwraps the image key with the
// chip's key-wrapping key and programs it, bound to the VM's ASID and disk port, into a
// disk-controller keyslot with the parameters the *certificate* states: the LUKS2 JSON is
// unauthenticated and never consulted for them (the tampered-header CVE class).
//
// DISK_IO: every guest page of the buffer is translated and ownership-checked before the
// PSP sets the DMA descriptor (host frames + the VM's ASID + keyslot + sectors), so the
// controller can only move data between this VM's disk and this VM's memory.
#include <fmt/format.h>

#include <variant>

#include "common/checked.h"
#include "crypto/suite.h"
#include "image/image_cert.h"
#include "image/luks2.h"
#include "measure/reference.h"
#include "psp/psp.h"
#include "psp/status_detail.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

Result no_disk() {
  return Result::failure(Status::invalid_state,
                         static_cast<std::uint64_t>(DiskStateDetail::no_disk));
}

// The status a guest gets for a request whose descriptor the disk controller would refuse.
Result refused_transfer(const hw::DmaVerdict& verdict) {
  switch (verdict.fault) {
    case hw::DmaFault::no_disk:
      return no_disk();
    case hw::DmaFault::no_key:
      return Result::failure(Status::invalid_state,
                             static_cast<std::uint64_t>(DiskStateDetail::no_image_key));
    case hw::DmaFault::bad_length:
    case hw::DmaFault::misaligned:
    case hw::DmaFault::bad_frames:
      return Result::failure(Status::invalid_parameter, verdict.value);
    case hw::DmaFault::out_of_range:
      return Result::failure(Status::invalid_address, verdict.value);
    case hw::DmaFault::raw_write:
      return Result::failure(Status::policy_violation, 0);
    case hw::DmaFault::none:
    case hw::DmaFault::wrong_port:
    case hw::DmaFault::wrong_asid:
    case hw::DmaFault::frame_refused:
    case hw::DmaFault::io_failed:
    case hw::DmaFault::coprocessor_failed:
    case hw::DmaFault::tag_mismatch:
    case hw::DmaFault::aborted:
      break;  // the PSP built the binding itself, and nothing has moved yet
  }
  return Result::failure(Status::internal_error, static_cast<std::uint64_t>(CVM_SC_DISK_IO));
}

Result refuse(CertRefusal why) {
  return Result::failure(Status::bad_certificate, static_cast<std::uint64_t>(why));
}

// The raw certificate in the guest's LUKS2 header for this chip: the first token for it
// (a provider authorises a chip once), or why there is none. `luks` receives the header.
std::variant<Bytes, CertRefusal> token_for_chip(ByteView header, ByteView chip_id,
                                                image::Luks2Header& luks) {
  try {
    luks = image::parse_luks2_header(header, "the guest's LUKS2 header");
  } catch (const Error&) {
    return CertRefusal::no_header;
  }
  std::vector<Bytes> candidates;
  try {
    candidates = image::certificates_for_chip(luks, chip_id);
  } catch (const Error&) {
    return CertRefusal::malformed;  // this chip's token does not decode
  }
  if (candidates.empty()) return CertRefusal::none_for_chip;
  return std::move(candidates.front());
}

// What a certificate must match: the platform and the VM it is presented for.
struct CertificateContext {
  crypto::SuiteId suite;
  ByteView chip_id;
  ByteView provider_key_id;  // of the key that signed the VM's reference
  ByteView launch_digest;
  const image::Luks2Header& luks;
};

// Decodes the certificate and checks everything but the key unwrap; the first check that
// fails is the refusal.
std::variant<image::ImageCertificate, CertRefusal> checked_certificate(
    ByteView encoded, const CertificateContext& expect) {
  image::ImageCertificate cert;
  try {
    cert = image::ImageCertificate::decode(encoded, "image certificate");
  } catch (const Error&) {
    return CertRefusal::malformed;
  }
  if (cert.suite != expect.suite) return CertRefusal::wrong_suite;
  if (!cert.signature_valid()) return CertRefusal::bad_signature;
  try {
    const crypto::Key provider = crypto::Key::parse(cert.provider_key, "certificate provider key");
    if (expect.provider_key_id.empty() ||
        !equal_constant_time(measure::provider_key_id(provider), expect.provider_key_id)) {
      return CertRefusal::wrong_provider;
    }
  } catch (const Error&) {
    return CertRefusal::malformed;
  }
  if (!equal_constant_time(cert.chip_id, expect.chip_id)) return CertRefusal::none_for_chip;
  if (cert.image_uuid != expect.luks.uuid) return CertRefusal::wrong_image;
  if (!cert.allowed_measurements.empty()) {
    bool listed = false;
    for (const Bytes& digest : cert.allowed_measurements) {
      listed = listed || equal_constant_time(digest, expect.launch_digest);
    }
    if (!listed) return CertRefusal::measurement;
  }
  return cert;
}

}  // namespace

void Psp::release_disk(Vm& vm) {
  if (vm.image.keyslot) {
    disks_.clear_keyslot(hw::PspPasskey{}, *vm.image.keyslot);
    vm.image.keyslot.reset();
  }
}

Result Psp::image_cert(Vm& vm, const ImageCertCall& call, SecureCallResponse& out) {
  if (!vm.disk_port) return no_disk();
  if (vm.image.keyslot) {  // once per boot
    return Result::failure(Status::invalid_state,
                           static_cast<std::uint64_t>(DiskStateDetail::key_already_programmed));
  }
  Bytes header(call.header_length);
  if (const Result r = read_guest(vm, call.header_gpa, header); !r.ok()) return r;

  const crypto::Suite& suite = crypto::suite(suite_);
  vm.image.check = attest::CertificateCheck::refused;
  image::Luks2Header luks;
  const auto token = token_for_chip(header, fuses_.identity.chip_id, luks);
  if (const auto* why = std::get_if<CertRefusal>(&token)) return refuse(*why);
  const Bytes& encoded = std::get<Bytes>(token);
  vm.image.certificate_digest = suite.hash(encoded);  // reported even when refused
  const auto checked = checked_certificate(
      encoded, {suite_, fuses_.identity.chip_id, vm.provider_key_id, vm.digest.value(), luks});
  if (const auto* why = std::get_if<CertRefusal>(&checked)) return refuse(*why);
  const auto& cert = std::get<image::ImageCertificate>(checked);
  Bytes key;
  try {
    key = suite.unwrap(fuses_.wrapping_key, cert.wrapped_key, image::image_key_context(cert));
  } catch (const Error&) {
    return refuse(CertRefusal::unwrap);
  }
  std::uint32_t slot = 0;
  // Only the PSP programs keyslots, so the controller's own state says which are free.
  while (slot < hw::kDiskKeyslots && disks_.keyslot_loaded(slot)) ++slot;
  if (slot == hw::kDiskKeyslots) return Result::failure(Status::resource_exhausted, 0);
  hw::DiskKeyslot config{
      suite_,           key,
      cert.sector_size, cert.data_offset,
      cert.data_length, *vm.disk_port,
      vm.key_asid(),    cert.integrity ? std::optional(cert.integrity->tag_offset) : std::nullopt};
  try {
    disks_.program_keyslot(hw::PspPasskey{}, slot, config);
  } catch (const Error&) {
    return refuse(CertRefusal::geometry);
  }
  if (cert.integrity) {
    vm.image.image_uuid = cert.image_uuid;
    if (const Result r = check_disk_root(vm, *cert.integrity, slot); !r.ok()) {
      disks_.clear_keyslot(hw::PspPasskey{}, slot);
      vm.image.disk_root.clear();
      vm.image.disk_version = 0;
      return r;
    }
  }
  vm.image.keyslot = slot;
  vm.image.data_offset = cert.data_offset;
  vm.image.check = attest::CertificateCheck::valid;
  out.sector_size = cert.sector_size;
  out.data_sectors = cert.data_sectors();
  return Result::success();
}

Result Psp::check_disk_root(Vm& vm, const image::SectorIntegrity& certified, std::uint32_t slot) {
  const auto rolled_back = [](DiskRootDetail why) {
    return Result::failure(Status::disk_rolled_back, static_cast<std::uint64_t>(why));
  };
  if (nv_.load() != NvFault::none) return rolled_back(DiskRootDetail::storage_refused);
  const DiskRecord* record = nv_.find(vm.image.image_uuid);
  // Before its first write an image has no record: the certificate's root is the one.
  Bytes expected =
      record != nullptr ? record->root : Bytes(certified.root.begin(), certified.root.end());
  std::uint64_t version = record != nullptr ? record->version : 0;
  if (record != nullptr && record->pending) {
    // A crash cut a write short: settle each of its sectors on the tag it matches.
    const PendingDiskWrite& pending = *record->pending;
    const auto settled = disks_.settle_write(hw::PspPasskey{}, slot, pending.first_sector,
                                             pending.old_tags, pending.new_tags, record->root);
    switch (settled.outcome) {
      case hw::DiskController::Settle::settled:
        break;
      case hw::DiskController::Settle::root_mismatch:
        return rolled_back(DiskRootDetail::root_mismatch);
      case hw::DiskController::Settle::unsettled:
        return rolled_back(DiskRootDetail::unsettled_write);
      case hw::DiskController::Settle::io_failed:
        return Result::failure(Status::io_error, 0);
    }
    DiskRecord done{vm.image.image_uuid, disks_.tag_root(hw::PspPasskey{}, slot),
                    record->version + 1, std::nullopt};
    // A disk attached read-only keeps its old tags in the file: the record stays pending
    // and the next boot settles the same sectors to the same root again.
    if (disks_.port_writable(*vm.disk_port) && nv_.store(done) != NvFault::none) {
      return rolled_back(DiskRootDetail::storage_failed);
    }
    expected = done.root;
    version = done.version;
  }
  if (!equal_constant_time(disks_.tag_root(hw::PspPasskey{}, slot), expected)) {
    return rolled_back(DiskRootDetail::root_mismatch);
  }
  vm.image.disk_root = std::move(expected);
  vm.image.disk_version = version;
  return Result::success();
}

// A write to an authenticated image: announced in the NV storage (old and new tags, new
// root) before any sector reaches the disk, committed there after the tags did. Whenever
// the process dies, the next boot finds either no pending write or one it can settle.
Result Psp::authenticated_write(Vm& vm, const hw::DmaDescriptor& dma, std::uint64_t& tag) {
  auto staged = disks_.stage_write(hw::PspPasskey{}, ++dma_tags_, dma);
  if (const auto* refused = std::get_if<hw::DmaCompletion>(&staged)) {
    tag = refused->tag;
    return Result::failure(Status::io_error, refused->tag);
  }
  auto& write = std::get<hw::DiskController::StagedWrite>(staged);
  DiskRecord record{vm.image.image_uuid, vm.image.disk_root, vm.image.disk_version,
                    PendingDiskWrite{write.first_sector, std::move(write.old_tags),
                                     std::move(write.new_tags), write.new_root}};
  if (nv_.store(record) != NvFault::none) {
    tag = disks_.cancel_write(hw::PspPasskey{}).tag;
    return Result::failure(Status::disk_rolled_back,
                           static_cast<std::uint64_t>(DiskRootDetail::storage_failed));
  }
  const hw::DmaCompletion done = disks_.commit_write(hw::PspPasskey{});
  tag = done.tag;
  // A failed commit may have written some sectors: the pending record stays for the next
  // boot to settle, and this boot stops writing (its root is no longer known).
  if (!done.ok()) return Result::failure(Status::io_error, done.tag);
  record.root = write.new_root;
  record.version = vm.image.disk_version + 1;
  record.pending.reset();
  // Should this store fail, the pending record settles at the next boot to this same root
  // and version: the write stands either way.
  (void)nv_.store(record);
  vm.image.disk_root = std::move(write.new_root);
  vm.image.disk_version = record.version;
  return Result::success();
}

Result Psp::disk_io(Vm& vm, const DiskIoCall& call, std::uint64_t& tag) {
  if (!vm.disk_port) return no_disk();
  hw::DmaDescriptor dma;
  dma.port = *vm.disk_port;
  dma.start = call.start;
  dma.length = call.length;
  dma.direction = call.write ? hw::DmaDirection::to_disk : hw::DmaDirection::to_memory;
  if (call.flush) {
    const hw::DmaCompletion done = disks_.flush(hw::PspPasskey{}, ++dma_tags_, dma.port);
    tag = done.tag;
    return done.ok() ? Result::success() : Result::failure(Status::io_error, done.tag);
  }
  // The PSP's policy; the geometry (alignment, bounds against the file or the certified
  // segment) is the controller's to check, below.
  if (call.raw) {
    // File bytes without the image key: reads of the LUKS2 header area only — before the
    // certificate, the largest two header copies; after it, everything before the
    // certified data segment.
    if (call.write) return Result::failure(Status::policy_violation, 0);
    const std::uint64_t area =
        vm.image.keyslot ? vm.image.data_offset : 2 * image::kLuks2MaxHeaderSize;
    const auto end = add_checked(call.start, std::uint64_t{call.length});
    if (!end || *end > area) return Result::failure(Status::invalid_address, call.start);
  } else {
    if (!vm.image.keyslot) {
      return Result::failure(Status::invalid_state,
                             static_cast<std::uint64_t>(DiskStateDetail::no_image_key));
    }
    // The host attached the disk read-only (the controller's port state says so): the
    // guest learns it from the status instead of a failed transfer.
    if (call.write && !disks_.port_writable(dma.port)) {
      return Result::failure(Status::write_protected, call.start);
    }
    dma.keyslot = vm.image.keyslot;
  }
  dma.memory = hw::Requester::keyed(hw::PspPasskey{}, hw::Initiator::dma, vm.key_asid());
  if (const hw::DmaVerdict verdict = disks_.check(hw::PspPasskey{}, dma); !verdict.ok()) {
    return refused_transfer(verdict);
  }
  // A read from disk writes guest memory: the pages must be mapped writable.
  if (const Result r = check_guest_pages(vm, call.page_gpas); !r.ok()) return r;
  if (const Result r = guest_frames(vm, call.page_gpas, !call.write, dma.frames); !r.ok()) {
    return r;
  }
  if (call.write && !vm.image.disk_root.empty()) return authenticated_write(vm, dma, tag);
  const hw::DmaCompletion done = disks_.run_dma(hw::PspPasskey{}, ++dma_tags_, dma);
  tag = done.tag;
  if (done.fault == hw::DmaFault::tag_mismatch) {
    return Result::failure(Status::tag_mismatch, done.sector);
  }
  if (!done.ok()) return Result::failure(Status::io_error, done.tag);
  return Result::success();
}

}  // namespace cvmsim::psp
