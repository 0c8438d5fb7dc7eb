// Scenarios against protected images: certificates for another chip, forged or from an
// untrusted provider, tampered LUKS2 metadata (the 2025 CVE class against confidential-VM
// disks), replayed ciphertext sectors, and DMA aimed at another VM's memory.
#include <fmt/format.h>

#include <algorithm>

#include "common/file_io.h"
#include "hw/npt.h"
#include "image/base64.h"
#include "image/boot_volume.h"
#include "image/image_cert.h"
#include "image/image_file.h"
#include "image/luks2.h"
#include "image/pack.h"
#include "lab/attacks/disk_boot.h"
#include "lab/attacks/lab_bench.h"
#include "lab/attacks/scenarios.h"
#include "lab/image_edit.h"
#include "pki/identity.h"

namespace cvmsim::lab::attacks {
namespace {

namespace fs = std::filesystem;
using measure::GuardMode;

const char* kImageIndependent = "the image path does not depend on the guard mode";

// An image that image_boot must refuse at IMAGE_CERT (exit status 12).
Outcome refused_certificate(const vmm::RunResult& run, std::string effect) {
  Outcome out;
  out.effect = std::move(effect);
  out.note = kImageIndependent;
  if (run.exit_status == 12u && run.console.find("PSP status 15") != std::string::npos) {
    out.kind = OutcomeKind::prevented;
    out.by = "IMAGE_CERT refused with bad_certificate: no image key was released";
    out.layer = Layer::psp_command;
    out.status = psp::Status::bad_certificate;
  } else {
    out.kind = booted(run) ? OutcomeKind::succeeded : OutcomeKind::prevented;
    out.by = fmt::format("the boot ended with status {}", run.exit_status.value_or(0xffff));
    if (out.kind == OutcomeKind::prevented) out.layer = Layer::guest;
  }
  return out;
}

Outcome image_other_chip(const RunOptions& o) {
  Bench bench(o, 2, 0);
  ImageSpec spec = demo_spec();
  spec.chips = {1};
  const auto image = bench.world().dir() / "disk.img";
  bench.world().make_image(spec, image);
  return refused_certificate(boot(bench, image),
                             "an image packed for chip 1 was plugged into a VM on chip 0");
}

Outcome image_forged_signature(const RunOptions& o) {
  Bench bench(o);
  const auto image = bench.world().dir() / "disk.img";
  bench.world().make_image(demo_spec(), image);
  rewrite_luks2_metadata(image, [](nlohmann::json& m) {
    for (auto& [id, token] : m["tokens"].items()) {
      if (token.value("type", "") != image::kImageTokenType) continue;
      const auto der = image::base64_decode(token["certificate"].get<std::string>());
      image::ImageCertificate cert = image::ImageCertificate::decode(*der, "token");
      cert.signature.back() ^= 0x01;
      token["certificate"] = image::base64_encode(cert.encode());
    }
  });
  return refused_certificate(boot(bench, image),
                             "one bit of the provider's signature in the certificate token "
                             "was flipped (header checksum recomputed)");
}

Outcome image_untrusted_provider(const RunOptions& o) {
  Bench bench(o);
  const fs::path other_dir = bench.world().dir() / "other";
  fs::create_directories(other_dir);
  const World other(other_dir, o.suite);
  // The other provider packs an image for this world's chip with its own key.
  const auto raw = bench.world().dir() / "volume.raw";
  write_file_atomic(raw, image::build_boot_volume(demo_spec().volume));
  image::PackRequest pack;
  pack.input = raw;
  pack.output = bench.world().dir() / "disk.img";
  pack.suite = o.suite;
  const pki::ChipIdentity chip = pki::load_chip(bench.world().chip_dir());
  pack.chips.push_back({chip.chip_id, chip.wrapping.public_key()});
  image::pack_image(pack, other.provider_key());
  return refused_certificate(boot(bench, pack.output),
                             "an image certified by a provider other than the one that "
                             "signed the VM's launch reference");
}

// The LUKS2 JSON (unauthenticated) says something else than the certificate.
Outcome luks2_tamper(const RunOptions& o, const std::string& what,
                     const std::function<void(nlohmann::json&)>& edit) {
  Bench bench(o);
  const auto image = bench.world().dir() / "disk.img";
  bench.world().make_image(demo_spec(), image);
  rewrite_luks2_metadata(image, [&](nlohmann::json& m) { edit(m["segments"]["0"]); });
  const image::Luks2Header edited = image::read_luks2_header_file(image);
  const vmm::RunResult run = boot(bench, image);
  Outcome out;
  out.note = kImageIndependent;
  out.effect =
      fmt::format("{} (the header now says {}, {}-byte sectors, data at {})", what,
                  edited.segment_cipher, edited.segment_sector_size, edited.segment_offset);
  if (booted(run) && !contains(read_file(image), kMotd)) {
    out.kind = OutcomeKind::prevented;
    out.by =
        "the PSP programs cipher, sector size and data offset from the signed "
        "certificate only: the VM booted with the certified parameters and the disk "
        "stayed encrypted";
    out.layer = Layer::signed_parameters;
  } else if (run.exit_status == 12u) {
    out.kind = OutcomeKind::prevented;
    out.by = "IMAGE_CERT refused the header";
    out.layer = Layer::psp_command;
  } else {
    out.kind = OutcomeKind::succeeded;
    out.effect += fmt::format(": boot ended with status {}", run.exit_status.value_or(0xffff));
  }
  return out;
}

Outcome luks2_cipher_null(const RunOptions& o) {
  return luks2_tamper(o, "segment 0's encryption set to cipher_null-ecb",
                      [](nlohmann::json& s) { s["encryption"] = "cipher_null-ecb"; });
}
Outcome luks2_sector_size(const RunOptions& o) {
  return luks2_tamper(o, "segment 0's sector_size changed from 4096 to 512",
                      [](nlohmann::json& s) { s["sector_size"] = 512; });
}
Outcome luks2_data_offset(const RunOptions& o) {
  return luks2_tamper(o, "segment 0's offset moved back by 1 MiB", [](nlohmann::json& s) {
    const std::uint64_t offset = std::stoull(s["offset"].get<std::string>());
    s["offset"] = std::to_string(offset - (1u << 20));
  });
}

// Puts back the bytes of every 512-byte unit of `image` in [begin, end) that differ from
// `snapshot`; returns how many.
std::size_t replay_units(const fs::path& image, const Bytes& snapshot, std::uint64_t begin,
                         std::uint64_t end) {
  Bytes now = read_file(image);
  std::size_t replayed = 0;
  for (std::size_t offset = begin;
       offset + 512 <= std::min<std::uint64_t>(end, now.size()) && offset + 512 <= snapshot.size();
       offset += 512) {
    const auto from = snapshot.begin() + static_cast<std::ptrdiff_t>(offset);
    if (!std::equal(from, from + 512, now.begin() + static_cast<std::ptrdiff_t>(offset))) {
      std::copy_n(from, 512, now.begin() + static_cast<std::ptrdiff_t>(offset));
      ++replayed;
    }
  }
  write_file_atomic(image, now);
  return replayed;
}

// The boot console's PSP status, as image_boot and disk_demo print it.
bool refused_with(const vmm::RunResult& run, psp::Status status) {
  return run.console.find(fmt::format("status {}", static_cast<std::uint32_t>(status))) !=
         std::string::npos;
}

// Prevented at the PSP, explained by `by`, when the boot's console shows `status`.
bool prevented_with(Outcome& out, const vmm::RunResult& run, psp::Status status, std::string by) {
  if (!refused_with(run, status)) return false;
  out.kind = OutcomeKind::prevented;
  out.by = std::move(by);
  out.layer = Layer::psp_command;
  out.status = status;
  return true;
}

// Any other end of the boot: the attack succeeded if the VM booted, else the guest stopped.
void ended_otherwise(Outcome& out, const vmm::RunResult& run) {
  out.kind = booted(run) ? OutcomeKind::succeeded : OutcomeKind::prevented;
  out.by = fmt::format("the boot ended with status {}", run.exit_status.value_or(0xffff));
  if (out.kind == OutcomeKind::prevented) out.layer = Layer::guest;
}

Outcome sector_replay(const RunOptions& o) {
  Bench bench(o);
  const auto image = bench.world().dir() / "disk.img";
  bench.world().make_image(demo_spec(), image);
  const vmm::RunResult first = boot(bench, image);  // boot number 1
  const Bytes snapshot = read_file(image);
  const vmm::RunResult second = boot(bench, image);  // boot number 2
  // The host puts back the ciphertext of every 512-byte sector the second boot changed.
  const std::size_t replayed = replay_units(image, snapshot, 0, snapshot.size());
  const vmm::RunResult third = boot(bench, image);
  if (!booted(first) || !booted(second)) {
    throw AttackError(AttackErrc::inconclusive, "the image did not boot before the replay");
  }
  Outcome out;
  out.note =
      "XTS gives confidentiality, not integrity: an authenticated disk (dm-integrity "
      "with an AEAD, or a hash tree over sectors with the root in the attestation) "
      "would detect it; guard-independent";
  if (third.console.find("boot number 2 of this image") != std::string::npos) {
    out.kind = OutcomeKind::succeeded;
    out.effect = fmt::format(
        "the host restored {} old ciphertext sectors: the third boot "
        "reports boot number 2 again (rollback)",
        replayed);
  } else {
    out.kind = OutcomeKind::prevented;
    out.effect = "the replayed sectors were noticed";
  }
  return out;
}

// The same replays against an authenticated image (pack --integrity): the whole change of
// the second boot (sectors and tags), or the data sectors alone.
Outcome authenticated_replay(const RunOptions& o, bool with_tags) {
  Bench bench(o);
  const auto image = bench.world().dir() / "disk.img";
  ImageSpec spec = demo_spec();
  spec.integrity = true;
  const image::PackResult packed = bench.world().make_image(spec, image);
  const vmm::RunResult first = boot(bench, image);
  const Bytes snapshot = read_file(image);
  const vmm::RunResult second = boot(bench, image);
  if (!booted(first) || !booted(second)) {
    throw AttackError(AttackErrc::inconclusive, "the image did not boot before the replay");
  }
  const std::uint64_t data_end = packed.data_offset + packed.data_length;
  const std::size_t replayed =
      replay_units(image, snapshot, 0, with_tags ? snapshot.size() : data_end);
  const vmm::RunResult third = boot(bench, image);
  Outcome out;
  out.note = kImageIndependent;
  out.effect = fmt::format("the host restored {} changed 512-byte units of the image{}", replayed,
                           with_tags ? " (sectors and their tags)" : " (data sectors only)");
  if (third.console.find("boot number 2 of this image") != std::string::npos) {
    out.kind = OutcomeKind::succeeded;
    out.effect += ": the third boot reports boot number 2 again (rollback)";
  } else if (!prevented_with(out, third, psp::Status::disk_rolled_back,
                             "IMAGE_CERT refused with disk_rolled_back (root_mismatch): the tags "
                             "give the root of the image after the first boot, the PSP's NV "
                             "storage holds the root after the second") &&
             !prevented_with(out, third, psp::Status::tag_mismatch,
                             "the disk controller checked the replayed sector against its "
                             "current tag: DISK_IO refused with tag_mismatch, nothing reached "
                             "memory")) {
    ended_otherwise(out, third);
  }
  return out;
}

Outcome sector_replay_authenticated(const RunOptions& o) {
  return authenticated_replay(o, true);
}
Outcome sector_replay_data_only(const RunOptions& o) {
  return authenticated_replay(o, false);
}

// One bit of the motd's sector flipped in an authenticated image.
Outcome sector_flip_authenticated(const RunOptions& o) {
  Bench bench(o);
  const auto image = bench.world().dir() / "disk.img";
  ImageSpec spec = demo_spec();
  spec.integrity = true;
  const image::PackResult packed = bench.world().make_image(spec, image);
  const Bytes volume = image::build_boot_volume(spec.volume);
  const auto header = image::BootVolumeHeader::decode(ByteView(volume).first(image::kBootBlock),
                                                      volume.size(), "the demo volume");
  const std::uint64_t motd = packed.data_offset + header.files.front().offset;
  Bytes bytes = read_file(image);
  bytes[motd + 7] ^= 0x10;
  write_file_atomic(image, bytes);
  const vmm::RunResult run = boot(bench, image);
  Outcome out;
  out.note = kImageIndependent;
  out.effect =
      fmt::format("one bit of the motd's ciphertext flipped (image offset {:#x})", motd + 7);
  if (!prevented_with(out, run, psp::Status::tag_mismatch,
                      "DISK_IO refused with tag_mismatch: the sector no longer matches its "
                      "tag, and nothing of it reached memory")) {
    ended_otherwise(out, run);
    if (booted(run)) out.effect += ": the VM booted and read a garbled motd";
  }
  return out;
}

// The header (with its certificates) of another authenticated image of the same provider,
// chip and size in front of this image's data and tags.
Outcome header_transplant_authenticated(const RunOptions& o) {
  Bench bench(o);
  ImageSpec spec = demo_spec();
  spec.integrity = true;
  const auto image = bench.world().dir() / "disk.img";
  const auto other = bench.world().dir() / "other.img";
  const image::PackResult packed = bench.world().make_image(spec, image);
  bench.world().make_image(spec, other);
  Bytes bytes = read_file(image);
  const Bytes donor = read_file(other);
  std::copy_n(donor.begin(), packed.data_offset, bytes.begin());
  write_file_atomic(image, bytes);
  const vmm::RunResult run = boot(bench, image);
  Outcome out;
  out.note = kImageIndependent;
  out.effect =
      "the LUKS2 headers of another image packed from the same volume for the same chip "
      "replaced this image's";
  if (!prevented_with(out, run, psp::Status::disk_rolled_back,
                      "IMAGE_CERT refused with disk_rolled_back (root_mismatch): the "
                      "certificate's tag key and root belong to the other image")) {
    ended_otherwise(out, run);
  }
  return out;
}

// At the first secure call (the raw header read), the VMM points the DMA buffer's NPT
// entry at a frame of another VM.
class MisdirectDma : public vmm::Misbehaviour {
 public:
  MisdirectDma(Bench& bench, std::uint64_t frame) : bench_(bench), frame_(frame) {}
  std::vector<std::uint64_t> on_secure_call(vmm::Platform&, vmm::Vmm&, psp::VmHandle vm,
                                            std::uint64_t gpa) override {
    if (!tried_) {
      tried_ = true;
      edited_ = bench_.host_map(vm, kHeaderBufferGpa, frame_);
    }
    return {gpa};
  }
  [[nodiscard]] bool edited() const { return edited_; }
  static constexpr std::uint64_t kHeaderBufferGpa = 0x400000;  // image_boot's HEADER_GPA

 private:
  Bench& bench_;
  std::uint64_t frame_;
  bool tried_ = false;
  bool edited_ = false;
};

Outcome dma_misdirection(const RunOptions& o) {
  Bench bench(o);
  const psp::VmHandle other = bench.launch_victim("");
  (void)bench.vmm().run(other);
  const std::uint64_t target = *bench.frame_of(other, kSecretGpa);
  Bytes before(hw::kFrameSize);
  bench.platform().memory_controller().read(target, before, hw::kHostAccess);
  const auto image = bench.world().dir() / "disk.img";
  bench.world().make_image(demo_spec(), image);
  const auto attack = std::make_shared<MisdirectDma>(bench, target);
  const vmm::RunResult run = boot(bench, image, attack);
  Bytes after(hw::kFrameSize);
  bench.platform().memory_controller().read(target, after, hw::kHostAccess);
  bench.vmm().decommission(other);
  Outcome out;
  out.note =
      "the VMM cannot program the disk controller itself: keyslots and DMA descriptors "
      "take a PspPasskey only the PSP can make (a compile-time refusal)";
  const bool untouched = before == after;
  if (!attack->edited()) {
    out.kind = OutcomeKind::prevented;
    out.by = "memory controller: the host's NPT write was refused (isolate)";
    out.layer = Layer::memory_controller;
    out.effect = booted(run) ? "the VM booted normally" : "the VM did not boot";
  } else if (untouched && run.exit_status == 11u) {
    const bool tampered = run.console.find("PSP status 13") != std::string::npos;
    out.kind = tampered ? OutcomeKind::detected : OutcomeKind::prevented;
    out.by = tampered ? "PSP walk check of the secure call: DISK_IO refused with npt_tampered"
                      : "PSP frame-owner check: DISK_IO refused with frame_not_available";
    out.layer = Layer::psp_command;
    out.status = tampered ? psp::Status::npt_tampered : psp::Status::frame_not_available;
    out.effect =
        "the DMA into the other VM's frame never happened; the other VM's page is "
        "unchanged";
    if (tampered) out.detected_after_commands = 1;
  } else if (!untouched) {
    out.kind = OutcomeKind::succeeded;
    out.effect = fmt::format(
        "the PSP accepted the DMA and it overwrote the other VM's page "
        "(with data under this VM's key); boot status {}",
        run.exit_status.value_or(0xffff));
    out.note =
        "guard off: the VMM maps untagged host frames itself, so the PSP's frame-owner "
        "check cannot tell another off-mode VM's frame from a free one; " +
        out.note;
  } else {
    out.kind = OutcomeKind::prevented;
    out.by = fmt::format("the boot failed (status {})", run.exit_status.value_or(0xffff));
    out.layer = Layer::guest;
    out.effect = "the other VM's page is unchanged";
  }
  return out;
}

}  // namespace

const Scenario kImageScenarios[] = {
    {"image-other-chip", "The VMM boots an image whose certificate names another chip", "", false,
     "", image_other_chip},
    {"image-forged-signature",
     "The host flips a bit of the provider's signature in the image certificate token", "", false,
     "", image_forged_signature},
    {"image-untrusted-provider",
     "The image is certified by a provider other than the one that signed the launch "
     "reference",
     "", false, "", image_untrusted_provider},
    {"luks2-cipher-null",
     "The host rewrites the LUKS2 JSON to the null cipher and recomputes the checksum",
     "the 2025 CVE class of tampered LUKS2 headers against confidential-VM disks", false, "",
     luks2_cipher_null},
    {"luks2-sector-size", "The host rewrites the LUKS2 JSON's sector size",
     "the 2025 CVE class of tampered LUKS2 headers", false, "", luks2_sector_size},
    {"luks2-data-offset", "The host rewrites the LUKS2 JSON's data offset",
     "the 2025 CVE class of tampered LUKS2 headers", false, "", luks2_data_offset},
    {"sector-replay", "The host restores old ciphertext sectors of the image file between boots",
     "", false,
     "XTS has no integrity: replayed sectors decrypt to the old plaintext; the guard mode is "
     "irrelevant to the disk",
     sector_replay},
    {"sector-replay-authenticated",
     "The host restores the sectors and tags an authenticated image changed between boots", "",
     false, "", sector_replay_authenticated},
    {"sector-replay-data-only",
     "The host restores an authenticated image's changed data sectors, not their tags", "", false,
     "", sector_replay_data_only},
    {"sector-flip-authenticated",
     "The host flips one bit of a data sector of an authenticated image", "", false, "",
     sector_flip_authenticated},
    {"header-transplant-authenticated",
     "The host puts another authenticated image's LUKS2 headers in front of this image", "", false,
     "", header_transplant_authenticated},
    {"dma-misdirection",
     "The VMM points the guest's DMA buffer at another VM's frame before the disk read", "", true,
     "", dma_misdirection},
};
const std::size_t kImageScenarioCount = std::size(kImageScenarios);

}  // namespace cvmsim::lab::attacks
