// The protected-image session from the command line, as the README shows it: identities,
// mkdisk, pack, sign-reference, run --image with attestation, verify.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "image/luks2.h"
#include "lab/image_edit.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim {
namespace {

using test::run_cli;

class ImageSession : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string suite = GetParam();
    ASSERT_EQ(run_cli({"vendor", "init", "--suite", suite, p("vendor")}).exit_code, 0);
    ASSERT_EQ(run_cli({"chip", "new", "--vendor", p("vendor"), p("chip")}).exit_code, 0);
    ASSERT_EQ(run_cli({"chip", "export", p("chip"), "--out", p("chain.pem")}).exit_code, 0);
    ASSERT_EQ(run_cli({"provider", "init", "--suite", suite, p("provider")}).exit_code, 0);
    ASSERT_EQ(run_cli({"guest", "export", "image_boot", "--out", p("fw.bin")}).exit_code, 0);
    write_text_file_atomic(p("motd.txt"), "greetings from the command line\n");
    auto r = run_cli({"mkdisk", "--builtin-kernel", "disk_demo", "--file", "motd=" + p("motd.txt"),
                      "--out", p("disk.raw")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_cli({"measure", "--suite", suite, p("fw.bin"), "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    digest = nlohmann::json::parse(r.out)["launch_digest"].get<std::string>();
    r = run_cli({"pack", "--in", p("disk.raw"), "--out", p("disk.img"), "--provider", p("provider"),
                 "--chip-chain", p("chain.pem"), "--vendor-root", p("vendor/root.pem"), "--suite",
                 suite, "--allow-measurement", digest});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = run_cli({"sign-reference", "--provider", p("provider"), "--firmware", p("fw.bin"), "--out",
                 p("fw.ref")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string p(const std::string& name) const { return (dir / name).string(); }
  test::CommandResult boot(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"run",         "--chip",      p("chip"),    "--firmware",
                                  p("fw.bin"),   "--reference", p("fw.ref"),  "--provider",
                                  p("provider"), "--image",     p("disk.img")};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  }
  test::TempDir dir;
  std::string digest;
};

TEST_P(ImageSession, BootsPersistsAttestsAndVerifies) {
  auto r = boot();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("boot number 1 of this image"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("greetings from the command line"), std::string::npos) << r.out;

  const std::string nonce(128, 'a');
  r = boot({"--attest-nonce", nonce, "--report-out", p("report.bin"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_NE(doc["vms"][0]["console"].get<std::string>().find("boot number 2"), std::string::npos);
  EXPECT_GE(doc["vms"][0]["interrupts_injected"].get<int>(), 4);

  r = run_cli({"verify", p("report.bin"), "--chain", p("chain.pem"), "--root", p("vendor/root.pem"),
               "--nonce", nonce, "--expect-measurement", digest, "--expect-provider",
               p("provider/provider.pem")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // An old nonce is a failed expectation.
  r = run_cli({"verify", p("report.bin"), "--chain", p("chain.pem"), "--root", p("vendor/root.pem"),
               "--nonce", std::string(128, 'b')});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
}

TEST_P(ImageSession, AnEvidenceBundleVerifiesAsADirectory) {
  const std::string nonce(128, 'c');
  auto r = boot({"--attest-nonce", nonce, "--evidence-out", p("evidence")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("evidence (report.bin, chain.pem) written to " + p("evidence")),
            std::string::npos)
      << r.out;
  // The bundle's chain is the chip's exported chain.
  EXPECT_EQ(read_text_file(p("evidence/chain.pem")), read_text_file(p("chain.pem")));
  const std::vector<std::string> expectations{"--root",
                                              p("vendor/root.pem"),
                                              "--nonce",
                                              nonce,
                                              "--expect-measurement",
                                              digest,
                                              "--expect-provider",
                                              p("provider/provider.pem")};
  std::vector<std::string> args{"verify", p("evidence")};
  args.insert(args.end(), expectations.begin(), expectations.end());
  r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("attestation report " + p("evidence") + "/report.bin"), std::string::npos)
      << r.out;
  // Still the tenant's nonce that counts, not anything in the bundle.
  args[5] = std::string(128, 'd');
  EXPECT_EQ(run_cli(args).exit_code, 5);
  // An existing, non-empty directory is not overwritten.
  r = boot({"--attest-nonce", nonce, "--evidence-out", p("evidence")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not an empty directory"), std::string::npos) << r.err;
  // A directory that is no bundle is named as such.
  std::filesystem::create_directory(p("empty"));
  r = run_cli({"verify", p("empty"), "--root", p("vendor/root.pem"), "--allow-unchecked"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not an evidence bundle"), std::string::npos) << r.err;
}

TEST_P(ImageSession, ARefusedCertificateFailsTheRun) {
  // Firmware that is not in the certificate's allowed list: launch succeeds (the reference
  // matches), but the PSP does not release the image key.
  auto r =
      run_cli({"pack", "--in", p("disk.raw"), "--out", p("other.img"), "--provider", p("provider"),
               "--chip-chain", p("chain.pem"), "--vendor-root", p("vendor/root.pem"), "--suite",
               GetParam(), "--allow-measurement", std::string(GetParam() == "sm" ? 64 : 96, '0')});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"run", "--chip", p("chip"), "--firmware", p("fw.bin"), "--reference", p("fw.ref"),
               "--provider", p("provider"), "--image", p("other.img")});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.out.find("IMAGE_CERT failed: PSP status 15"), std::string::npos) << r.out;
  // The host decodes the guest's numbers: status and detail by name, and the digest.
  EXPECT_NE(r.out.find("PSP refused IMAGE_CERT: bad_certificate (status 15), detail 8 = "
                       "measurement: the VM's launch digest is not among the certificate's "
                       "allowed measurements; the VM's launch digest is " +
                       digest),
            std::string::npos)
      << r.out;
}

TEST_P(ImageSession, AnImageForAnotherChipNamesBothChips) {
  ASSERT_EQ(run_cli({"chip", "new", "--vendor", p("vendor"), p("chip2")}).exit_code, 0);
  auto r =
      run_cli({"run", "--chip", p("chip2"), "--firmware", p("fw.bin"), "--reference", p("fw.ref"),
               "--provider", p("provider"), "--image", p("disk.img"), "-o", "json"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  const auto& refusals = doc["vms"][0]["psp_refusals"];
  ASSERT_EQ(refusals.size(), 1u) << r.out;
  EXPECT_EQ(refusals[0]["call"], "IMAGE_CERT");
  EXPECT_EQ(refusals[0]["status"], 15);
  EXPECT_EQ(refusals[0]["status_name"], "bad_certificate");
  EXPECT_EQ(refusals[0]["detail"], 2);
  const std::string text = refusals[0]["text"];
  const auto chip_id = [&](const std::string& chip_dir) {
    return nlohmann::json::parse(read_text_file(p(chip_dir) + "/chip.json"))["chip_id"]
        .get<std::string>();
  };
  EXPECT_NE(text.find("none_for_chip"), std::string::npos) << text;
  EXPECT_NE(text.find("certificates for chip(s) " + chip_id("chip")), std::string::npos) << text;
  EXPECT_NE(text.find("this platform is chip " + chip_id("chip2")), std::string::npos) << text;
}

// The image's own token (there is one chip): `edit` changes it as the host could.
void edit_own_token(const std::string& image, const std::function<void(nlohmann::json&)>& edit) {
  lab::rewrite_luks2_metadata(image, [&](nlohmann::json& m) {
    for (auto& [id, token] : m["tokens"].items()) {
      if (token["type"] == image::kImageTokenType) edit(token);
    }
  });
}

TEST_P(ImageSession, AHostEditedTokenIsAnsweredWithBadCertificateNotACrash) {
  // The host edits the LUKS2 JSON and reseals the checksum. The PSP must answer
  // IMAGE_CERT with bad_certificate (15): the run ends with the VM-failed code, the
  // guest's console survives, and nothing escapes as an internal error.
  const Bytes original = read_file(p("disk.img"), 1ull << 30);
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> edits{
      {"chip_id as a number", [](nlohmann::json& t) { t["chip_id"] = 12345; }},
      {"certificate not base64", [](nlohmann::json& t) { t["certificate"] = "%%% not base64"; }},
      {"certificate as an object",
       [](nlohmann::json& t) {
         t["certificate"] = {{"a", 1}};
       }},
  };
  for (const auto& [what, edit] : edits) {
    SCOPED_TRACE(what);
    write_file_atomic(p("disk.img"), original);
    edit_own_token(p("disk.img"), edit);
    const auto r = boot();
    EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
    EXPECT_NE(r.out.find("image_boot: IMAGE_CERT failed: PSP status 15"), std::string::npos)
        << r.out << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  }
  // A malformed token for another chip does not stop this chip's good token.
  write_file_atomic(p("disk.img"), original);
  lab::rewrite_luks2_metadata(p("disk.img"), [](nlohmann::json& m) {
    m["tokens"]["7"] = {{"type", image::kImageTokenType},
                        {"keyslots", nlohmann::json::array()},
                        {"chip_id", std::string(32, 'e')},
                        {"certificate", "%%% not base64"}};
    m["tokens"]["8"] = {{"type", image::kImageTokenType}, {"chip_id", 7}};
  });
  const auto r = boot();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("boot number 1 of this image"), std::string::npos) << r.out;
}

TEST_P(ImageSession, InspectDescribesTokensOfTheWrongJsonType) {
  lab::rewrite_luks2_metadata(p("disk.img"), [](nlohmann::json& m) {
    m["tokens"]["3"] = 42;                                 // not an object
    m["tokens"]["4"] = {{"type", 7}};                      // type of the wrong type
    m["tokens"]["5"] = {{"type", image::kImageTokenType},  // fields of the wrong type
                        {"chip_id", {1, 2}},
                        {"certificate", nullptr}};
    m["segments"]["0"]["size"] = {{"x", 1}};
  });
  for (const char* format : {"text", "json"}) {
    const auto r = run_cli({"inspect", p("disk.img"), "-o", format});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("token 3 is a JSON number, not an object"), std::string::npos) << r.out;
  }
  // The raw header bytes go through the same description.
  const Bytes image = read_file(p("disk.img"), 1ull << 30);
  const std::uint64_t header_size = image::luks2_stated_header_size(image, "disk.img");
  write_file_atomic(p("header.bin"), ByteView(image).first(header_size));
  const auto r = run_cli({"inspect", p("header.bin")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_P(ImageSession, AnOutputNeverReplacesAnInput) {
  const Bytes image = read_file(p("disk.img"), 1ull << 30);
  const Bytes raw = read_file(p("disk.raw"), 1ull << 30);
  std::filesystem::create_hard_link(p("disk.img"), p("alias.img"));
  const std::string nonce(16, 'a');
  for (const std::string& out : {p("disk.img"), p("alias.img"), p("fw.bin"), p("fw.ref"),
                                 p("./provider/provider.pem"), p("chip/chip.json")}) {
    SCOPED_TRACE(out);
    const auto r = boot({"--attest-nonce", nonce, "--report-out", out});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("--report-out"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("an output never replaces an input"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_file(p("disk.img"), 1ull << 30), image);
  const auto pack = [&](const std::string& in, const std::string& out) {
    return run_cli({"pack", "--in", in, "--out", out, "--provider", p("provider"), "--chip-chain",
                    p("chain.pem"), "--vendor-root", p("vendor/root.pem")});
  };
  auto r = pack(p("disk.raw"), p("disk.raw"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
  r = pack(p("disk.raw"), p("chain.pem"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(read_file(p("disk.raw"), 1ull << 30), raw);
  r = run_cli({"mkdisk", "--builtin-kernel", "disk_demo", "--file", "motd=" + p("motd.txt"),
               "--out", p("motd.txt")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(read_text_file(p("motd.txt")), "greetings from the command line\n");
  r = run_cli({"sign-reference", "--provider", p("provider"), "--firmware", p("fw.bin"), "--out",
               p("fw.bin")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"chip", "export", p("chip"), "--out", p("chip/root.pem")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(run_cli({"chip", "show", p("chip")}).exit_code, 0);
}

// Holds a flock() on a file as another run of cvmsim would.
class HeldLock {
 public:
  HeldLock(const std::string& path, int operation) : fd_(::open(path.c_str(), O_RDONLY)) {
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::flock(fd_, operation | LOCK_NB), 0);
  }
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;
  ~HeldLock() { ::close(fd_); }

 private:
  int fd_;
};

TEST_P(ImageSession, ASecondWriterIsRefusedAndReadOnlyRunsShare) {
  const Bytes before = read_file(p("disk.img"), 1ull << 30);
  {
    const HeldLock writer(p("disk.img"), LOCK_EX);  // another run writing the image
    auto r = boot();
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("[hw/busy]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(p("disk.img")), std::string::npos) << r.err;
    r = boot({"--image-read-only"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("[hw/busy]"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_file(p("disk.img"), 1ull << 30), before);
  {
    const HeldLock reader(p("disk.img"), LOCK_SH);  // another read-only run
    EXPECT_EQ(boot().exit_code, 1);
    // disk_demo boots read-only, reads its state block, and its write is refused with
    // write_protected (19): the guest gets the status, the file is unchanged.
    const auto r = boot({"--image-read-only"});
    EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
    EXPECT_NE(r.out.find("disk_demo: writing the state block failed: PSP status 19"),
              std::string::npos)
        << r.out;
  }
  EXPECT_EQ(read_file(p("disk.img"), 1ull << 30), before);
  // Without other users the image is the run's to write.
  EXPECT_EQ(boot().exit_code, 0);
}

TEST(MkdiskCli, RefusesAKernelThatIsNotAPayloadAndLeavesNoOutput) {
  test::TempDir dir;
  write_text_file_atomic(dir / "junk", "not a payload at all");
  const auto r =
      run_cli({"mkdisk", "--kernel", (dir / "junk").string(), "--out", (dir / "out.raw").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("CVMSPAYL"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.raw"));
  EXPECT_EQ(
      run_cli({"mkdisk", "--builtin-kernel", "nosuch", "--out", (dir / "x").string()}).exit_code,
      2);
}

INSTANTIATE_TEST_SUITE_P(Suites, ImageSession, ::testing::Values("sm", "nist"));

}  // namespace
}  // namespace cvmsim
