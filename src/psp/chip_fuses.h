// The chip's secrets as the PSP sees them: the simulated fuses in CHIPDIR/fuses/. Only
// the PSP model calls this loader; host tools load public certificates through pki.
#pragma once

#include <filesystem>

#include "crypto/key.h"
#include "pki/identity.h"

namespace cvmsim::psp {

struct ChipFuses {
  pki::ChipIdentity identity;  // chip id, suite and the public chain
  crypto::Key endorsement_key;
  crypto::Key attestation_key;
  crypto::Key wrapping_key;
  // Where the PSP's non-volatile storage lives: CHIPDIR/psp-nv (psp/nv_storage.h).
  std::filesystem::path nv_dir;

  // The same fuses again, without reading the chip directory (whose loading verifies the
  // chain and every key): for benches that build many platforms of one chip.
  [[nodiscard]] ChipFuses clone() const;
};

// Throws PkiError{bad_identity} when a fuse file is missing, or a private key does not
// match the certificate the chip presents for it.
ChipFuses load_chip_fuses(const std::filesystem::path& chip_dir);

}  // namespace cvmsim::psp
