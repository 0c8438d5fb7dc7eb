// Protected VM images end to end: a provider packs a boot volume into an encrypted LUKS2
// image for a chip; the measured boot firmware hands the image certificate to the PSP by a
// secure call, the PSP programs the image key into the disk controller, and the kernel it
// loads through PSP-mediated DMA reads, writes and attests.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "attest/report.h"
#include "common/file_io.h"
#include "crypto/suite.h"
#include "image/image_file.h"
#include "lab/world.h"
#include "psp/chip_fuses.h"
#include "support/temp_dir.h"

namespace cvmsim::lab {
namespace {

using crypto::SuiteId;

Bytes guest(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

constexpr std::string_view kMotd = "welcome to an encrypted disk";

ImageSpec demo_image(std::uint32_t sector_size = 4096) {
  ImageSpec spec;
  spec.volume.kernel = guest("disk_demo");
  spec.volume.files.push_back({"motd", text(kMotd)});
  spec.sector_size = sector_size;
  return spec;
}

bool contains(ByteView haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

vmm::RunResult boot(const World& world, const std::filesystem::path& image,
                    const measure::Policy& policy = {}, Bytes nonce = {}, std::size_t chip = 0) {
  vmm::Platform platform(world.chip_dir(chip));
  vmm::Vmm vmm(platform);
  vmm::LaunchRequest request = world.launch_request(guest("image_boot"), policy);
  request.disk = image;
  request.host_input = std::move(nonce);
  const psp::VmHandle vm = vmm.launch(request);
  vmm::RunResult r = vmm.run(vm);
  vmm.decommission(vm);
  return r;
}

struct Param {
  SuiteId suite;
  std::uint32_t sector_size;
};

class ProtectedImage : public ::testing::TestWithParam<Param> {};

TEST_P(ProtectedImage, BootsReadsWritesAndPersistsAcrossReboots) {
  test::TempDir dir;
  World world(dir.path(), GetParam().suite);
  const auto image = dir.path() / "disk.img";
  world.make_image(demo_image(GetParam().sector_size), image);

  const vmm::RunResult first = boot(world, image);
  ASSERT_EQ(first.fate, vmm::VmFate::exited) << first.detail << "\n" << first.console;
  EXPECT_EQ(first.exit_status, 0u) << first.console;
  EXPECT_NE(first.console.find("boot number 1 of this image"), std::string::npos) << first.console;
  EXPECT_NE(first.console.find(fmt::format("file motd ({} bytes): {}", kMotd.size(), kMotd)),
            std::string::npos)
      << first.console;
  EXPECT_GE(first.stats.interrupts_injected, 4u);  // header, boot block, kernel, state I/O
  EXPECT_EQ(first.stats.secure_calls_refused, 0u);

  // A new VM on a new platform boots the same image: the write persisted.
  const vmm::RunResult second = boot(world, image);
  ASSERT_EQ(second.fate, vmm::VmFate::exited) << second.console;
  EXPECT_NE(second.console.find("boot number 2 of this image"), std::string::npos)
      << second.console;

  // The image on disk holds no plaintext of the volume.
  const Bytes stored = read_file(image);
  EXPECT_FALSE(contains(stored, kMotd));
  EXPECT_FALSE(contains(stored, "CVMSBOOT"));
  EXPECT_FALSE(contains(stored, "VMSSTATE"));
}

TEST_P(ProtectedImage, AttestationReportCoversFirmwareCertificateAndNonce) {
  test::TempDir dir;
  World world(dir.path(), GetParam().suite);
  const auto image = dir.path() / "disk.img";
  const image::PackResult packed = world.make_image(demo_image(GetParam().sector_size), image);
  const Bytes nonce = crypto::random_bytes(64);

  const vmm::RunResult r = boot(world, image, {}, nonce);
  ASSERT_EQ(r.exit_status, 0u) << r.console;
  const attest::Report report = attest::Report::decode(r.host_output, "guest report");
  const psp::ChipFuses fuses = psp::load_chip_fuses(world.chip_dir());
  EXPECT_TRUE(report.signature_valid(fuses.attestation_key));
  EXPECT_TRUE(std::equal(nonce.begin(), nonce.end(), report.report_data.begin()));
  EXPECT_EQ(report.firmware_check, attest::FirmwareCheck::matched);
  EXPECT_EQ(report.certificate_check, attest::CertificateCheck::valid);
  EXPECT_EQ(report.launch_digest, world.measure(guest("image_boot")));
  EXPECT_EQ(report.certificate_digest,
            crypto::suite(GetParam().suite).hash(packed.certificates.front().encode()));
  EXPECT_EQ(report.chip_id, fuses.identity.chip_id);
  EXPECT_TRUE(report.simulated);
}

TEST_P(ProtectedImage, TheGuestReadsTheWholeVolumeByteForByte) {
  test::TempDir dir;
  World world(dir.path(), GetParam().suite);
  ImageSpec spec;
  spec.volume.kernel = guest("checksum");
  spec.volume.files.push_back({"random", crypto::random_bytes(3u << 20)});
  spec.sector_size = GetParam().sector_size;
  const auto image = dir.path() / "disk.img";
  const image::PackResult packed = world.make_image(spec, image);
  Bytes volume = image::build_boot_volume(spec.volume);
  volume.resize(packed.data_length, 0);  // pack pads to whole sectors
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const std::uint8_t b : volume) hash = (hash ^ b) * 0x100000001b3ULL;

  const vmm::RunResult r = boot(world, image);
  ASSERT_EQ(r.exit_status, 0u) << r.console << r.detail;
  EXPECT_NE(
      r.console.find(fmt::format("checksum: fnv1a64 {:016x} over {} bytes", hash, volume.size())),
      std::string::npos)
      << r.console;
}

TEST(ProtectedImageRefusals, DiskRequestsOutsideTheCertifiedSegmentAreRefused) {
  // The guest asks for one sector past the segment's end, for a start sector that wraps,
  // and for a raw read beyond the header area (8 MiB into an image whose data starts at
  // 1 MiB): the PSP refuses each with invalid_address (5) before any DMA.
  test::TempDir dir;
  World world(dir.path(), SuiteId::sm);
  ImageSpec spec;
  spec.volume.kernel = guest("checksum");
  spec.volume.files.push_back({"data", crypto::random_bytes(12u << 20)});
  const auto image = dir.path() / "disk.img";
  world.make_image(spec, image);
  const vmm::RunResult r = boot(world, image, {}, Bytes{'o'});
  ASSERT_EQ(r.exit_status, 0u) << r.console;
  EXPECT_NE(r.console.find("checksum: probes past-end 5 wrap 5 raw-data 5"), std::string::npos)
      << r.console;
  EXPECT_GE(r.stats.secure_calls_refused, 3u);
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, ProtectedImage,
                         ::testing::Values(Param{SuiteId::sm, 4096}, Param{SuiteId::sm, 512},
                                           Param{SuiteId::nist, 4096}, Param{SuiteId::nist, 512}),
                         [](const auto& param_info) {
                           return fmt::format("{}_{}", crypto::to_string(param_info.param.suite),
                                              param_info.param.sector_size);
                         });

TEST(ProtectedImageRefusals, AnImageForAnotherChipDoesNotBoot) {
  test::TempDir dir;
  World world(dir.path(), SuiteId::sm, 2);
  const auto image = dir.path() / "disk.img";
  ImageSpec spec = demo_image();
  spec.chips = {1};
  world.make_image(spec, image);
  const vmm::RunResult r = boot(world, image, {}, {}, /*chip=*/0);
  EXPECT_EQ(r.exit_status, 12u) << r.console;  // IMAGE_CERT refused
  EXPECT_NE(r.console.find("IMAGE_CERT failed: PSP status 15"), std::string::npos) << r.console;
  // The authorised chip boots it.
  EXPECT_EQ(boot(world, image, {}, {}, 1).exit_status, 0u);
}

TEST(ProtectedImageRefusals, TheKeyIsReleasedOnlyToAllowedLaunchDigests) {
  test::TempDir dir;
  World world(dir.path(), SuiteId::sm);
  const auto image = dir.path() / "disk.img";
  ImageSpec spec = demo_image();
  spec.allowed_measurements = {world.measure(guest("hello"))};  // not the boot firmware
  world.make_image(spec, image);
  const vmm::RunResult refused = boot(world, image);
  EXPECT_EQ(refused.exit_status, 12u) << refused.console;

  spec.allowed_measurements.push_back(world.measure(guest("image_boot")));
  world.make_image(spec, image);
  EXPECT_EQ(boot(world, image).exit_status, 0u);
}

TEST(ProtectedImageRefusals, ACertificateFromAnotherProviderIsRefused) {
  // The image is signed by a provider other than the one that signed the VM's reference.
  test::TempDir dir;
  World world(dir.path(), SuiteId::nist);
  test::TempDir other_dir;
  World other(other_dir.path(), SuiteId::nist);
  const auto image = dir.path() / "disk.img";
  ImageSpec spec = demo_image();
  // Pack with the other provider for this world's chip.
  const auto raw = dir.path() / "volume.raw";
  write_file_atomic(raw, image::build_boot_volume(spec.volume));
  image::PackRequest pack;
  pack.input = raw;
  pack.output = image;
  pack.suite = SuiteId::nist;
  const pki::ChipIdentity chip = pki::load_chip(world.chip_dir());
  pack.chips.push_back({chip.chip_id, chip.wrapping.public_key()});
  image::pack_image(pack, other.provider_key());
  const vmm::RunResult r = boot(world, image);
  EXPECT_EQ(r.exit_status, 12u) << r.console;
}

TEST(ProtectedImageRefusals, PlainVirtualisationUsesTheSameDiskProtection) {
  // Memory encryption off: no ASID binding, the disk stays encrypted with the image key.
  test::TempDir dir;
  World world(dir.path(), SuiteId::sm);
  const auto image = dir.path() / "disk.img";
  world.make_image(demo_image(), image);
  measure::Policy policy;
  policy.memory_encryption = false;
  const vmm::RunResult r = boot(world, image, policy);
  EXPECT_EQ(r.exit_status, 0u) << r.console;
  EXPECT_NE(r.console.find("boot number 1"), std::string::npos);
  EXPECT_FALSE(contains(read_file(image), kMotd));
}

}  // namespace
}  // namespace cvmsim::lab
