#include "psp/chip_fuses.h"

#include <fmt/format.h>
#include <fmt/std.h>

#include "common/file_io.h"
#include "pki/pki_error.h"

namespace cvmsim::psp {
namespace {

crypto::Key load_fuse(const std::filesystem::path& file, const pki::Certificate& cert) {
  crypto::Key key = crypto::Key::parse(read_file(file, 1 << 16), file.string());
  if (!key.has_private() || key.public_der() != cert.public_key().public_der()) {
    throw pki::PkiError(
        pki::PkiErrc::bad_identity,
        fmt::format("{}: fuse key does not match certificate '{}'", file, cert.common_name()));
  }
  return key;
}

}  // namespace

ChipFuses ChipFuses::clone() const {
  pki::ChipIdentity chip{identity.suite,
                         identity.chip_id,
                         identity.vendor,
                         identity.root.clone(),
                         identity.signing.clone(),
                         identity.endorsement.clone(),
                         identity.attestation.clone(),
                         identity.wrapping.clone()};
  return {std::move(chip), endorsement_key.share(), attestation_key.share(), wrapping_key.share(),
          nv_dir};
}

ChipFuses load_chip_fuses(const std::filesystem::path& chip_dir) {
  pki::ChipIdentity identity = pki::load_chip(chip_dir);
  const auto fuses = chip_dir / "fuses";
  crypto::Key endorsement = load_fuse(fuses / "endorsement.key", identity.endorsement);
  crypto::Key attestation = load_fuse(fuses / "attestation.key", identity.attestation);
  crypto::Key wrapping = load_fuse(fuses / "wrapping.key", identity.wrapping);
  return {std::move(identity), std::move(endorsement), std::move(attestation), std::move(wrapping),
          chip_dir / "psp-nv"};
}

}  // namespace cvmsim::psp
