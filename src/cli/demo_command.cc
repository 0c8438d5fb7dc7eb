// cvmsim demo: the end-to-end story on built-in defaults, in a temporary directory.
//
// It plays what exists: vendor and chip identities, the provider's signed reference
// measurement, a measured launch of real guest code on the simulated platform under the
// guarded NPT, what the hypervisor sees of guest memory, and the page-reordering attack
// refused at LAUNCH_VERIFY. Encrypted disks and attestation join the story as they land.
#include <fmt/core.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "guest_images.h"
#include "hw/npt.h"
#include "crypto/suite.h"
#include "measure/launch_plan.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "psp/chip_fuses.h"
#include "vmm/vmm.h"
#include "vmm/vmm_error.h"

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

Bytes swap_pages(Bytes fw, std::size_t a, std::size_t b) {
  if (std::max(a, b) >= fw.size() / measure::kPageSize) {
    throw std::invalid_argument("swap_pages: page index beyond the firmware");
  }
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
  // The provider ships memwalk padded with a data page, so a reordering has two pages to swap.
  Bytes firmware = to_bytes(guest_images::all().at("memwalk"));
  firmware.resize((firmware.size() / measure::kPageSize + 2) * measure::kPageSize, 0);
  const measure::GuestLayout layout;
  const Bytes digest =
      measure::measure_plan(measure::plan_firmware_launch(firmware, layout, "memwalk"), suite);
  const measure::Policy policy;  // guard=detect, integrity=merkle, memory encryption on
  const Bytes reference = measure::sign_reference(provider_key, policy, digest).encode();
  fmt::print("4. provider signed the reference for the memwalk firmware ({} bytes): launch "
             "digest {}...\n",
             firmware.size(), to_hex(digest).substr(0, 32));

  vmm::Platform platform(chip_dir);
  vmm::Vmm hypervisor(platform);
  vmm::LaunchRequest request{firmware, reference, provider_key.public_der(), policy,
                             256ull << 20};
  const psp::VmHandle vm = hypervisor.launch(request);
  const vmm::RunResult run = hypervisor.run(vm);
  const auto info = platform.psp().vm_info(vm);
  fmt::print("5. measured launch ({}) and run: guest printed \"{}\", {} ({} VM exits, {} "
             "nested page faults served by NPT_MAP, {} PSP commands, {} bytes of PSP "
             "private memory)\n",
             policy.to_string(), run.console.substr(0, run.console.size() - 1),
             vmm::to_string(run.fate), run.stats.exits, run.stats.nested_page_faults,
             run.stats.psp_commands, info->private_memory);
  if (run.fate != vmm::VmFate::exited) throw std::runtime_error("the demo VM did not exit");

  // The hypervisor reads the guest's first firmware page straight from DRAM.
  const auto t = hw::npt::walk(platform.memory_controller(), info->npt_root, layout.load_gpa,
                               hw::npt::Access::read);
  Bytes seen(16);
  platform.memory_controller().read(t.translation->hpa, seen, hw::kHostAccess);
  fmt::print("6. the hypervisor reading GPA {:#x} from DRAM sees {} (the firmware starts "
             "{})\n",
             layout.load_gpa, to_hex(seen), to_hex(ByteView(firmware).first(16)));
  if (equal_constant_time(seen, ByteView(firmware).first(16))) {
    throw std::runtime_error("guest memory was readable by the hypervisor");
  }

  request.firmware = swap_pages(firmware, 0, 1);
  try {
    (void)hypervisor.launch(request);
    throw std::runtime_error("reordered firmware was launched");
  } catch (const vmm::VmmError& e) {
    fmt::print("7. a hypervisor that swaps firmware pages 0 and 1 is refused: {}\n", e.what());
  }
  const double ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  fmt::print("   ({:.1f} ms for this suite)\n", ms);
}

void run_demo(const DemoOptions& o) {
  const Workdir workdir(o.workdir, o.keep);
  fmt::print("cvmsim demo: identities, signed launch measurement, a confidential VM under "
             "the guarded NPT\n");
  fmt::print("working in {}\n", workdir.path().string());
  for (crypto::SuiteId suite : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    play_suite(suite, workdir.path());
  }
  fmt::print("\nSummary: in both suites the chip chain verified, the PSP measured and checked "
             "the firmware, the guest ran with every page mapped by the PSP, the hypervisor "
             "saw only ciphertext, and reordered firmware was refused.\n");
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
