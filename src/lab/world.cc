#include "lab/world.h"

#include <fmt/format.h>

#include "common/file_io.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"

namespace cvmsim::lab {
namespace {

crypto::Key make_identities(const std::filesystem::path& dir, crypto::SuiteId suite,
                            std::size_t chips) {
  pki::create_vendor(dir / "vendor", suite, "Lab Vendor", false);
  for (std::size_t i = 0; i < chips; ++i) {
    pki::create_chip(dir / "vendor", dir / fmt::format("chip{}", i), false);
  }
  pki::create_provider(dir / "provider", suite, "Lab Provider", false);
  return pki::load_provider_key(dir / "provider");
}

}  // namespace

World::World(std::filesystem::path dir, crypto::SuiteId suite, std::size_t chips)
    : dir_(std::move(dir)),
      suite_(suite),
      chips_(chips),
      provider_key_(make_identities(dir_, suite, chips)) {}

std::filesystem::path World::chip_dir(std::size_t i) const {
  return dir_ / fmt::format("chip{}", i);
}

Bytes World::measure(ByteView firmware) const {
  return measure::measure_plan(
      measure::plan_firmware_launch(firmware, measure::GuestLayout{}, "firmware"), suite_);
}

vmm::LaunchRequest World::launch_request(ByteView firmware, const measure::Policy& policy) const {
  vmm::LaunchRequest r;
  r.firmware.assign(firmware.begin(), firmware.end());
  r.reference = measure::sign_reference(provider_key_, policy, measure(firmware)).encode();
  r.provider_key = provider_key_.public_der();
  r.policy = policy;
  return r;
}

image::PackResult World::make_image(const ImageSpec& spec, const std::filesystem::path& out) const {
  const std::filesystem::path raw = out.string() + ".raw";
  write_file_atomic(raw, image::build_boot_volume(spec.volume));
  image::PackRequest pack;
  pack.input = raw;
  pack.output = out;
  pack.suite = suite_;
  pack.sector_size = spec.sector_size;
  pack.integrity = spec.integrity;
  pack.allowed_measurements = spec.allowed_measurements;
  for (const std::size_t i : spec.chips) {
    const pki::ChipIdentity chip = pki::load_chip(chip_dir(i));
    pack.chips.push_back({chip.chip_id, chip.wrapping.public_key()});
  }
  image::PackResult result = image::pack_image(pack, provider_key_);
  std::filesystem::remove(raw);
  return result;
}

}  // namespace cvmsim::lab
