// The PSP answers host-controlled image input with a status, never an exception,
// and a disk the host attached read-only (or that another run holds) is refused by name.
//
// The secure-call level drives IMAGE_CERT and DISK_IO the way image_boot does, but from
// the test (lab/secure_call_bench.h). The end-to-end level boots image_boot and disk_demo on the
// same images.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "common/file_io.h"
#include "hw/hw_error.h"
#include "image/image_file.h"
#include "lab/image_edit.h"
#include "lab/world.h"
#include "support/secure_call_bench.h"
#include "support/temp_dir.h"

namespace cvmsim::lab {
namespace {

namespace fs = std::filesystem;
using crypto::SuiteId;

ImageSpec demo_image() {
  ImageSpec spec;
  spec.volume.kernel = guest("disk_demo");
  const std::string motd = "a hostile host";
  spec.volume.files.push_back({"motd", Bytes(motd.begin(), motd.end())});
  return spec;
}

// Bad-certificate detail words (docs/formats.md, "Secure calls").
constexpr std::uint64_t kNoneForChip = 2;
constexpr std::uint64_t kMalformed = 3;

struct TokenEdit {
  const char* what;
  std::function<void(nlohmann::json&)> edit;  // applied to the whole JSON
  std::optional<std::uint64_t> refusal;       // bad_certificate detail; none: accepted
};

std::vector<TokenEdit> token_edits() {
  const auto own = [](std::function<void(nlohmann::json&)> edit) {
    return [edit](nlohmann::json& m) {
      for (auto& [id, token] : m["tokens"].items()) {
        if (token["type"] == image::kImageTokenType) edit(token);
      }
    };
  };
  const auto add = [](nlohmann::json token) {
    return [token](nlohmann::json& m) { m["tokens"]["9"] = token; };
  };
  return {
      {"own chip_id as a number", own([](nlohmann::json& t) { t["chip_id"] = 12345; }),
       kNoneForChip},
      {"own certificate not base64",
       own([](nlohmann::json& t) { t["certificate"] = "%%% not base64 %%%"; }), kMalformed},
      {"own certificate as a number", own([](nlohmann::json& t) { t["certificate"] = 5; }),
       kMalformed},
      {"own certificate base64 of garbage",
       own([](nlohmann::json& t) { t["certificate"] = "AAAA"; }), kMalformed},
      {"another chip's token not base64",
       add({{"type", image::kImageTokenType},
            {"chip_id", std::string(32, 'a')},
            {"certificate", "%%%"}}),
       std::nullopt},
      {"another token with chip_id a number",
       add({{"type", image::kImageTokenType}, {"chip_id", 7}, {"certificate", 7}}), std::nullopt},
      {"a token that is not an object", add(42), std::nullopt},
      {"a token whose type is not a string", add({{"type", {1, 2}}}), std::nullopt},
  };
}

// A world of the suite under test with the demo image packed for its chip.
class HostileImage : public ::testing::TestWithParam<SuiteId> {
 protected:
  HostileImage() { world.make_image(demo_image(), image); }

  // Runs `check` once per token edit, each on a fresh copy of the image with that edit.
  void for_each_edited_image(const std::function<void(const TokenEdit&)>& check) const {
    const Bytes original = read_file(image, 1ull << 30);
    for (const TokenEdit& e : token_edits()) {
      SCOPED_TRACE(e.what);
      write_file_atomic(image, original);
      rewrite_luks2_metadata(image, e.edit);
      check(e);
    }
  }

  // A launch of the image_boot guest with the image as its disk.
  [[nodiscard]] psp::VmHandle launch_image_boot(vmm::Vmm& vmm, bool writable = true) const {
    vmm::LaunchRequest request = world.launch_request(guest("image_boot"));
    request.disk = image;
    request.disk_writable = writable;
    return vmm.launch(request);
  }

  test::TempDir dir;
  World world{dir.path(), GetParam()};
  fs::path image = dir.path() / "disk.img";
};

TEST_P(HostileImage, TheImageCertServiceAnswersEveryEditedTokenWithAStatus) {
  for_each_edited_image([&](const TokenEdit& e) {
    SecureCallBench bench(world, image);
    const psp::Response r = bench.image_cert();
    if (e.refusal) {
      EXPECT_EQ(r.result.status, psp::Status::bad_certificate);
      EXPECT_EQ(r.result.detail, *e.refusal);
      EXPECT_EQ(bench.guest_status(),
                std::make_pair(std::uint64_t{15}, *e.refusal));  // what the guest reads
    } else {
      EXPECT_TRUE(r.ok()) << psp::to_string(r.result.status) << " " << r.result.detail;
      EXPECT_EQ(bench.guest_status().first, 0u);
      EXPECT_TRUE(bench.disk_io(0, false).ok());  // the key is in place: the disk reads
    }
  });
}

TEST_P(HostileImage, ABootOnAnEditedTokenEndsWithTheRefusalOnTheConsole) {
  for_each_edited_image([&](const TokenEdit& e) {
    vmm::Platform platform(world.chip_dir());
    vmm::Vmm vmm(platform);
    const vmm::RunResult r = vmm.run(launch_image_boot(vmm));
    if (e.refusal) {
      EXPECT_EQ(r.exit_status, 12u) << r.console << r.detail;
      EXPECT_NE(
          r.console.find(fmt::format("IMAGE_CERT failed: PSP status 15 (detail {})", *e.refusal)),
          std::string::npos)
          << r.console;
      EXPECT_EQ(r.stats.secure_calls_refused, 1u);
    } else {
      EXPECT_EQ(r.exit_status, 0u) << r.console << r.detail;
      EXPECT_NE(r.console.find("boot number"), std::string::npos) << r.console;
    }
  });
}

TEST_P(HostileImage, TwoWritersOfOneImageAreRefusedReadersShare) {
  vmm::Platform first_platform(world.chip_dir());
  vmm::Vmm first(first_platform);
  (void)launch_image_boot(first, true);
  vmm::Platform second_platform(world.chip_dir());
  vmm::Vmm second(second_platform);
  for (const bool writable : {true, false}) {
    try {
      (void)launch_image_boot(second, writable);
      ADD_FAILURE() << "a second user of a written image was not refused";
    } catch (const hw::HwError& e) {
      EXPECT_EQ(e.code(), hw::HwErrc::busy);
      EXPECT_NE(std::string(e.what()).find(image.string()), std::string::npos) << e.what();
    }
  }
}

TEST_P(HostileImage, AReadOnlyDiskReadsAndRefusesWritesWithWriteProtected) {
  const Bytes before = read_file(image, 1ull << 30);
  {
    // Two read-only users at once; each reads, neither may write.
    SecureCallBench a(world, image, /*writable=*/false);
    SecureCallBench b(world, image, /*writable=*/false);
    for (SecureCallBench* bench : {&a, &b}) {
      ASSERT_TRUE(bench->image_cert().ok());
      EXPECT_TRUE(bench->disk_io(0, false).ok());
      const psp::Response w = bench->disk_io(0, true);
      EXPECT_EQ(w.result.status, psp::Status::write_protected);
      EXPECT_EQ(bench->guest_status().first,
                static_cast<std::uint64_t>(psp::Status::write_protected));
    }
  }
  {
    vmm::Platform platform(world.chip_dir());
    vmm::Vmm vmm(platform);
    const vmm::RunResult r = vmm.run(launch_image_boot(vmm, false));
    EXPECT_EQ(r.exit_status, 22u) << r.console;
    EXPECT_NE(r.console.find("writing the state block failed: PSP status 19"), std::string::npos)
        << r.console;
  }
  EXPECT_EQ(read_file(image, 1ull << 30), before);
}

TEST_P(HostileImage, RandomMailboxCommandsFromTheHostAlwaysGetAStatus) {
  // The host owns every field of every command: random handles, addresses, counts and
  // request pages (fixed seed) must each be answered, never thrown out of the PSP.
  vmm::Platform platform(world.chip_dir());
  vmm::Vmm vmm(platform);
  const psp::VmHandle vm = launch_image_boot(vmm);
  std::mt19937_64 rng(17);
  const auto any = [&](std::uint64_t small) { return rng() % 2 == 0 ? rng() % small : rng(); };
  const std::uint64_t memory = platform.memory_controller().memory().size();
  for (int round = 0; round < 3000; ++round) {
    const psp::VmHandle target = rng() % 4 == 0 ? static_cast<psp::VmHandle>(rng()) : vm;
    psp::Command command;
    switch (rng() % 7) {
      case 0:
        command = psp::NptMap{target,
                              any(1ull << 32) & ~0xfffull,
                              any(memory),
                              any(1024),
                              {rng() % 2 == 0, rng() % 2 == 0, rng() % 2 == 0}};
        break;
      case 1:
        command = psp::NptUnmap{target, any(1ull << 32), any(1024)};
        break;
      case 2:
        command = psp::NptDonate{target, {any(memory), any(memory)}};
        break;
      case 3:
        command = psp::DiskAttach{target, static_cast<std::uint32_t>(any(4))};
        break;
      case 4:  // the firmware's first page (not a request) or anywhere
        command = psp::SecureCall{target, rng() % 2 == 0 ? 0x100000 : any(1ull << 32)};
        break;
      case 5:
        command = psp::TlbTrack{target};
        break;
      default:
        command = psp::LaunchUpdate{target, any(1ull << 32), measure::PageType::firmware,
                                    any(memory), Bytes(rng() % 8192)};
    }
    psp::Response r;
    ASSERT_NO_THROW(r = platform.psp().execute(command)) << psp::command_name(command);
    EXPECT_LT(static_cast<std::uint32_t>(r.result.status), psp::kStatusCount);
  }
}

INSTANTIATE_TEST_SUITE_P(Suites, HostileImage, ::testing::Values(SuiteId::sm, SuiteId::nist),
                         [](const auto& param_info) {
                           return std::string(crypto::to_string(param_info.param));
                         });

}  // namespace
}  // namespace cvmsim::lab
