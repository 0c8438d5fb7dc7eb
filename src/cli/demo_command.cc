// cvmsim demo: the end-to-end story on built-in defaults, in a temporary directory.
//
// Today it plays what exists: vendor and chip identities, the provider's signed reference
// measurement, and the reordering attack on the launch digest. The platform model (guest
// boot, guarded NPT, encrypted disk, attestation) joins the story as it lands.
#include <fmt/core.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "psp/chip_fuses.h"

namespace cvmsim::cli {
namespace {

namespace fs = std::filesystem;

struct DemoOptions {
  bool keep = false;
  std::string workdir;
};

// A temporary directory removed at scope exit unless the user asked to keep it.
class Workdir {
 public:
  Workdir(const std::string& requested, bool keep) : keep_(keep || !requested.empty()) {
    if (!requested.empty()) {
      path_ = requested;
      fs::create_directories(path_);
    } else {
      std::string tmpl = (fs::temp_directory_path() / "cvmsim-demo-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
      path_ = tmpl;
    }
  }
  Workdir(const Workdir&) = delete;
  Workdir& operator=(const Workdir&) = delete;
  ~Workdir() {
    std::error_code ignored;
    if (!keep_) fs::remove_all(path_, ignored);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] bool kept() const { return keep_; }

 private:
  fs::path path_;
  bool keep_;
};

// A deterministic stand-in firmware image of three pages: two identical-content halves
// make the reordering experiment meaningful.
Bytes sample_firmware() {
  Bytes fw(3 * measure::kPageSize);
  for (std::size_t i = 0; i < fw.size(); ++i) {
    fw[i] = static_cast<std::uint8_t>((i / measure::kPageSize) * 0x11 + (i & 0x0f));
  }
  fw[0] = 0xf4;  // HLT
  return fw;
}

Bytes swap_pages(Bytes fw, std::size_t a, std::size_t b) {
  std::swap_ranges(fw.begin() + static_cast<std::ptrdiff_t>(a * measure::kPageSize),
                   fw.begin() + static_cast<std::ptrdiff_t>((a + 1) * measure::kPageSize),
                   fw.begin() + static_cast<std::ptrdiff_t>(b * measure::kPageSize));
  return fw;
}

void play_suite(crypto::SuiteId suite, const fs::path& root) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const std::string name(crypto::to_string(suite));
  fmt::print("\n== suite {} ({}) ==\n", name,
             suite == crypto::SuiteId::sm ? "SM2 / SM3 / SM4-XTS" : "P-384 / SHA-384 / AES-XTS");

  const fs::path vendor_dir = root / (name + "-vendor");
  const fs::path chip_dir = root / (name + "-chip");
  const fs::path provider_dir = root / (name + "-provider");
  const auto vendor = pki::create_vendor(vendor_dir, suite, "Demo Silicon", false);
  const auto chip = pki::create_chip(vendor_dir, chip_dir, false);
  fmt::print("1. vendor '{}' made its root {} and signing key {}; chip {} was manufactured\n",
             vendor.name, vendor.root.common_name(), vendor.signing.common_name(),
             to_hex(chip.chip_id));
  const fs::path chain_file = root / (name + "-chain.pem");
  write_text_file_atomic(chain_file, pki::to_pem_bundle(chip.chain()));
  const auto exported = pki::parse_chip_chain(read_file(chain_file), chain_file.string());
  exported.verify(&vendor.root);
  fmt::print("2. exported chain {} -> {} -> {} -> {{{}, {}}} verifies against the vendor root\n",
             pki::role_name(suite, pki::Role::root), pki::role_name(suite, pki::Role::signing),
             pki::role_name(suite, pki::Role::endorsement),
             pki::role_name(suite, pki::Role::attestation),
             pki::role_name(suite, pki::Role::wrapping));
  const auto fuses = psp::load_chip_fuses(chip_dir);
  fmt::print("3. the PSP model read its fuses: attestation and key-wrapping keys match the "
             "certificates\n");

  pki::create_provider(provider_dir, suite, "Demo Cloud Images", false);
  const crypto::Key provider_key = pki::load_provider_key(provider_dir);
  const Bytes firmware = sample_firmware();
  const measure::GuestLayout layout;
  const Bytes digest =
      measure::measure_plan(measure::plan_firmware_launch(firmware, layout, "sample"), suite);
  const measure::Reference reference =
      measure::sign_reference(provider_key, measure::Policy{}, digest);
  const auto decoded = measure::Reference::decode(reference.encode(), "reference");
  decoded.verify(provider_key.public_only());
  fmt::print("4. provider signed the reference: launch digest {} under policy {}\n",
             to_hex(digest), decoded.policy.to_string());

  const Bytes reordered = measure::measure_plan(
      measure::plan_firmware_launch(swap_pages(firmware, 1, 2), layout, "reordered"), suite);
  fmt::print("5. a hypervisor that swaps firmware pages 1 and 2 gets digest {}: {}\n",
             to_hex(reordered).substr(0, 16) + "...",
             reordered == digest ? "NOT DETECTED" : "differs, LAUNCH_VERIFY would refuse it");
  const double ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  fmt::print("   ({:.1f} ms for this suite)\n", ms);
  if (reordered == digest) throw std::runtime_error("reordering was not detected");
}

void run_demo(const DemoOptions& o) {
  const Workdir workdir(o.workdir, o.keep);
  fmt::print("cvmsim demo: vendor, chip and provider identities; signed launch measurement\n");
  fmt::print("working in {}\n", workdir.path().string());
  for (crypto::SuiteId suite : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    play_suite(suite, workdir.path());
  }
  fmt::print("\nSummary: both suites issued verifiable chip chains, signed references, and "
             "the launch digest caught page reordering.\n");
  if (workdir.kept()) fmt::print("artifacts kept in {}\n", workdir.path().string());
}

}  // namespace

void register_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Play the end-to-end story on built-in defaults");
  cmd->add_flag("--keep", options->keep, "Keep the temporary directory and its artifacts");
  cmd->add_option("--workdir", options->workdir, "Use (and keep) this directory");
  cmd->callback([options] { run_demo(*options); });
}

}  // namespace cvmsim::cli
