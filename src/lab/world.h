// A laboratory world: a vendor, chips, a provider and their artifacts in one directory, and
// the steps that turn guest programs into launchable, protected VMs. The demo, the attack
// scenarios and the tests use it so that each plays the same provider and tenant steps the
// CLI offers (mkdisk, pack, sign-reference), not shortcuts around them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/bytes.h"
#include "crypto/key.h"
#include "image/boot_volume.h"
#include "image/pack.h"
#include "measure/policy.h"
#include "vmm/vmm.h"

namespace cvmsim::lab {

struct ImageSpec {
  image::BootVolumeSpec volume;
  std::vector<std::size_t> chips = {0};     // which of the world's chips may boot it
  std::vector<Bytes> allowed_measurements;  // empty: any launch digest
  std::uint32_t sector_size = 4096;
  bool integrity = false;  // pack --integrity: sector tags and a hash tree root
};

class World {
 public:
  // Creates vendor/, chip0/ .. chip{N-1}/ and provider/ under `dir` (which must exist).
  World(std::filesystem::path dir, crypto::SuiteId suite, std::size_t chips = 1);

  [[nodiscard]] crypto::SuiteId suite() const noexcept { return suite_; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] std::filesystem::path vendor_dir() const { return dir_ / "vendor"; }
  [[nodiscard]] std::filesystem::path chip_dir(std::size_t i = 0) const;
  [[nodiscard]] std::filesystem::path provider_dir() const { return dir_ / "provider"; }
  [[nodiscard]] const crypto::Key& provider_key() const noexcept { return provider_key_; }

  // The launch digest of `firmware` and a launch request with a reference the provider
  // signed for it and `policy`.
  [[nodiscard]] Bytes measure(ByteView firmware) const;
  [[nodiscard]] vmm::LaunchRequest launch_request(ByteView firmware,
                                                  const measure::Policy& policy = {}) const;
  // mkdisk + pack: writes the boot volume and packs it into the encrypted image `out`.
  image::PackResult make_image(const ImageSpec& spec, const std::filesystem::path& out) const;

 private:
  std::filesystem::path dir_;
  crypto::SuiteId suite_;
  std::size_t chips_;
  crypto::Key provider_key_;
};

}  // namespace cvmsim::lab
