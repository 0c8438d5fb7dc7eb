// cvmsim demo: the end-to-end story on built-in defaults, in a temporary directory.
//
// Per suite: vendor and chip, provider, mkdisk + pack of an encrypted image for that chip,
// the provider's signed reference for the boot firmware, a measured launch, the encrypted
// boot (IMAGE_CERT, PSP-mediated DMA, completion interrupts), disk reads and writes, what
// the hypervisor sees of the image and of guest memory, a reboot that finds the data it
// wrote, attestation with a fresh nonce and its verification, and the page-reordering
// attack refused at LAUNCH_VERIFY; then the guarded nested page tables against two edits
// behind the PSP's back. Each step names who acts and the one command that does it alone.
// It fails (non-zero exit) if any step does not behave.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "attest/verifier.h"
#include "cli/commands.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "common/scratch_dir.h"
#include "crypto/suite.h"
#include "guest_images.h"
#include "hw/npt.h"
#include "lab/attacks/catalogue.h"
#include "lab/attacks/render.h"
#include "lab/world.h"
#include "measure/policy.h"
#include "pki/identity.h"
#include "trace/trace.h"
#include "vmm/vmm.h"
#include "vmm/vmm_error.h"

namespace cvmsim::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct DemoOptions {
  bool keep = false;
  std::string workdir;
  std::string trace_out;  // the event trace of every step (Chrome Trace Event JSON)
};

// Records a host tool's step in the trace (the provider's and the tenant's lanes).
void note_tool(trace::Recorder* recorder, trace::Actor who, std::optional<trace::Actor> to,
               std::string name, nlohmann::json args) {
  if (recorder == nullptr) return;
  recorder->record({.actor = who,
                    .target = to,
                    .name = std::move(name),
                    .category = trace::category::tool,
                    .args = std::move(args)});
}

// Who acts in a step, and the one command that does the same step on its own (so a reader
// can replay any step by hand; docs/cli.md).
void alone(std::string_view who, std::string_view command) {
  fmt::print("   [{}] alone: {}\n", who, command);
}

[[noreturn]] void broken(const std::string& what) {
  throw std::runtime_error("demo step failed: " + what);
}

Bytes builtin_guest(std::string_view name) {
  const ByteView b = guest_images::all().at(name);
  return {b.begin(), b.end()};
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Bytes swap_pages(Bytes fw, std::size_t a, std::size_t b) {
  const std::size_t page = measure::kPageSize;
  if (std::max(a, b) >= fw.size() / page) fw.resize((std::max(a, b) + 1) * page, 0);
  std::swap_ranges(fw.begin() + static_cast<std::ptrdiff_t>(a * page),
                   fw.begin() + static_cast<std::ptrdiff_t>((a + 1) * page),
                   fw.begin() + static_cast<std::ptrdiff_t>(b * page));
  return fw;
}

constexpr std::string_view kMotd = "hello from inside an encrypted disk image";

struct Boot {
  vmm::RunResult run;
  std::size_t private_memory = 0;
  hw::DiskStats disk;
  std::string dram_seen;  // what the hypervisor read of the kernel's first bytes
  double ms = 0;
};

Boot boot(const lab::World& world, const fs::path& image, const Bytes& nonce,
          trace::Recorder* recorder) {
  const auto start = Clock::now();
  vmm::Platform platform(world.chip_dir(), {.trace = recorder});
  vmm::Vmm hypervisor(platform);
  vmm::LaunchRequest request = world.launch_request(builtin_guest("image_boot"));
  request.disk = image;
  request.host_input = nonce;
  const psp::VmHandle vm = hypervisor.launch(request);
  Boot b;
  b.run = hypervisor.run(vm);
  b.ms = ms_since(start);
  const auto info = platform.psp().vm_info(vm);
  b.private_memory = info->private_memory;
  b.disk = platform.disks().stats();
  // The hypervisor reads the kernel the guest loaded from its disk straight from DRAM.
  const auto t =
      hw::npt::walk(platform.memory_controller(), info->npt_root, 0x200000, hw::npt::Access::read);
  if (t.ok()) {
    Bytes seen(16);
    platform.memory_controller().read(t.translation->hpa, seen, hw::kHostAccess);
    b.dram_seen = to_hex(seen);
  }
  hypervisor.decommission(vm);
  return b;
}

void play_suite(crypto::SuiteId suite, const fs::path& root, trace::Recorder* recorder) {
  const auto start = Clock::now();
  const std::string name(crypto::to_string(suite));
  fmt::print("\n== suite {} ({}) ==\n", name,
             suite == crypto::SuiteId::sm ? "SM2 / SM3 / SM4-XTS" : "P-384 / SHA-384 / AES-XTS");
  const fs::path dir = root / name;
  fs::create_directories(dir);
  const lab::World world(dir, suite);
  const pki::ChipIdentity chip = pki::load_chip(world.chip_dir());
  fmt::print(
      "1. vendor root -> signing key -> chip {} (endorsement, attestation, key-wrapping "
      "keys); provider '{}' made its signing key\n",
      to_hex(chip.chip_id), pki::load_provider(world.provider_dir()).name);
  alone("vendor, provider",
        "cvmsim vendor init vendor; cvmsim chip new --vendor vendor chip; cvmsim provider init "
        "provider");

  const Bytes firmware = builtin_guest("image_boot");
  const Bytes digest = world.measure(firmware);
  lab::ImageSpec spec;
  spec.volume.kernel = builtin_guest("disk_demo");
  spec.volume.files.push_back({"motd", Bytes(kMotd.begin(), kMotd.end())});
  spec.allowed_measurements = {digest};
  const fs::path image = dir / "disk.img";
  const auto pack_start = Clock::now();
  const image::PackResult packed = world.make_image(spec, image);
  note_tool(recorder, trace::Actor::provider, std::nullopt, "pack",
            {{"suite", name},
             {"volume_bytes", packed.input_size},
             {"image_bytes", packed.image_size},
             {"allowed_measurement", to_hex(digest)}});
  note_tool(recorder, trace::Actor::provider, std::nullopt, "sign_reference",
            {{"launch_digest", to_hex(digest)}});
  fmt::print(
      "2. mkdisk + pack: a {} KiB boot volume (kernel disk_demo, file motd) became {} "
      "({} KiB LUKS2, {} data segment, key released only to launch digest {}...) in "
      "{:.1f} ms\n",
      packed.input_size / 1024, image.filename().string(), packed.image_size / 1024,
      image::to_string(packed.certificates.front().cipher), to_hex(digest).substr(0, 16),
      ms_since(pack_start));
  alone("provider",
        "cvmsim pack --in disk.raw --out disk.img --provider provider --chip-chain chain.pem "
        "--vendor-root vendor/root.pem --allow-measurement DIGEST");
  const Bytes stored = read_file(image, 256ull << 20);
  if (contains(stored, kMotd) || contains(stored, "CVMSBOOT")) broken("plaintext in the image");
  fmt::print(
      "3. the image file holds no plaintext of the volume (searched for the motd and "
      "the boot header)\n");
  alone("host", "cvmsim inspect disk.img (the header; the data segment is ciphertext)");

  const Boot first = boot(world, image, {}, recorder);
  if (first.run.exit_status != 0u) broken("first boot: " + first.run.console + first.run.detail);
  fmt::print(
      "4. measured launch of image_boot, LAUNCH_VERIFY against the signed reference, "
      "then the guest:\n");
  for (std::string_view rest = first.run.console; !rest.empty();) {
    const auto nl = rest.find('\n');
    fmt::print("     | {}\n", rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }
  fmt::print(
      "   {} secure calls, {} DMA transfers ({} KiB decrypted into VM memory, {} KiB "
      "encrypted to disk), {} completion interrupts, {} bytes of PSP private memory, "
      "{:.1f} ms\n",
      first.run.stats.secure_calls, first.disk.transfers, first.disk.bytes_to_memory / 1024,
      first.disk.bytes_to_disk / 1024, first.run.stats.interrupts_injected, first.private_memory,
      first.ms);
  alone("host, PSP",
        "cvmsim run --chip chip --firmware fw.bin --reference fw.ref --provider provider "
        "--image disk.img");
  fmt::print(
      "5. the hypervisor reading the loaded kernel from DRAM sees {} (the kernel "
      "starts {})\n",
      first.dram_seen, to_hex(ByteView(spec.volume.kernel).first(16)));
  alone("host", "cvmsim attack run vmm-reads");
  if (first.dram_seen.empty() ||
      first.dram_seen == to_hex(ByteView(spec.volume.kernel).first(16))) {
    broken("guest memory was readable by the hypervisor");
  }

  const Bytes nonce = crypto::random_bytes(attest::kReportDataSize);
  note_tool(recorder, trace::Actor::tenant, trace::Actor::vmm, "attest_nonce",
            {{"nonce", to_hex(nonce)}});
  const Boot second = boot(world, image, nonce, recorder);
  if (second.run.exit_status != 0u ||
      second.run.console.find("boot number 2") == std::string::npos) {
    broken("reboot did not find the data it wrote: " + second.run.console);
  }
  fmt::print(
      "6. reboot on a fresh platform: the guest found its state block (\"boot number "
      "2\") and asked the PSP for a report over nonce {}...\n",
      to_hex(nonce).substr(0, 16));
  alone("tenant, host, PSP",
        "cvmsim run ... --image disk.img --attest-nonce NONCE --report-out report.bin");
  const fs::path chain = dir / "chain.pem";
  write_text_file_atomic(chain, pki::to_pem_bundle(chip.chain()));
  attest::Expectations expect;
  expect.nonce = nonce;
  expect.launch_digest = digest;
  expect.provider.emplace(crypto::Key::parse(world.provider_key().public_der(), "provider key"));
  // The tenant's appraisal policy (cvmsim verify --policy): a guarded NPT and encrypted
  // memory, on this chip only.
  expect.policy.emplace();
  expect.policy->min_guard_mode = measure::GuardMode::detect;
  expect.policy->memory_encryption_required = true;
  expect.policy->chip_ids = {chip.chip_id};
  const attest::Verification v =
      attest::verify_report(second.run.host_output, "report", read_file(chain), chain.string(),
                            pki::load_vendor(world.vendor_dir()).root, expect);
  std::size_t passed = 0;
  std::vector<std::string> skipped;  // the opt-in checks the demo does not ask for
  for (const auto& c : v.checks) {
    passed += c.status == attest::CheckStatus::pass ? 1 : 0;
    if (c.status == attest::CheckStatus::skip) skipped.emplace_back(attest::to_string(c.id));
  }
  note_tool(recorder, trace::Actor::vmm, trace::Actor::tenant, "report",
            {{"bytes", second.run.host_output.size()}});
  note_tool(recorder, trace::Actor::tenant, std::nullopt, "verify",
            {{"result", v.passed() ? "PASS" : "FAIL"},
             {"checks_passed", passed},
             {"checks", v.checks.size()}});
  fmt::print(
      "7. verify: {} of {} checks PASS (chain to the vendor root, signature, nonce, "
      "measurement, provider, firmware and certificate checks, NPT integrity, the appraisal "
      "policy){}; the report is marked as simulator evidence\n",
      passed, v.checks.size(),
      skipped.empty()
          ? ""
          : fmt::format(", {} SKIP ({}: not asked for)", skipped.size(), fmt::join(skipped, ", ")));
  alone("tenant",
        "cvmsim verify report.bin --chain chain.pem --root vendor/root.pem --nonce NONCE "
        "--expect-measurement DIGEST --expect-provider provider/provider.pem");
  if (!v.passed()) broken("the report did not verify");

  vmm::Platform platform(world.chip_dir(), {.trace = recorder});
  vmm::Vmm hypervisor(platform);
  vmm::LaunchRequest reordered = world.launch_request(firmware);
  reordered.firmware = swap_pages(firmware, 0, 1);
  try {
    (void)hypervisor.launch(reordered);
    broken("reordered firmware was launched");
  } catch (const vmm::VmmError& e) {
    fmt::print("8. a hypervisor that swaps firmware pages 0 and 1 is refused: {}\n", e.what());
  }
  alone("host, refused by the PSP", "cvmsim attack run firmware-reorder");
  fmt::print("   ({:.1f} ms for this suite)\n", ms_since(start));
}

// The second half of the system: the PSP guards the nested page tables. The hypervisor
// edits them behind the PSP's back, once right before asking for a mapping and once
// silently; each is played unguarded (the SEV baseline) and guarded.
void play_npt_guard(const fs::path& root, trace::Recorder* recorder) {
  fmt::print("\n== the guarded nested page tables (suite sm) ==\n");
  struct Step {
    std::string_view scenario;
    std::string_view text;
    lab::attacks::OutcomeKind guarded;
  };
  const Step steps[] = {
      {"npt-permission-flip",
       "the hypervisor flips a read-only, no-execute page to writable + executable in the "
       "NPT behind the PSP's back, then asks for its next NPT_MAP",
       lab::attacks::OutcomeKind::detected},
      {"npt-silent-edit",
       "the hypervisor remaps a page between PSP updates and stays quiet: no NPT_MAP follows",
       lab::attacks::OutcomeKind::detected},
  };
  int number = 9;
  for (const Step& step : steps) {
    const lab::attacks::Scenario& scenario = lab::attacks::find_scenario(step.scenario);
    fmt::print("{}. {}:\n", number++, step.text);
    for (const auto guard : {measure::GuardMode::off, measure::GuardMode::detect}) {
      const fs::path dir = root / fmt::format("{}-{}", step.scenario, measure::to_string(guard));
      fs::create_directories(dir);
      const lab::attacks::Outcome outcome =
          lab::attacks::run_scenario(scenario, {guard, crypto::SuiteId::sm, dir, recorder});
      fmt::print("   guard {:<6} {}\n", measure::to_string(guard),
                 lab::attacks::summarize(outcome));
      if (guard != measure::GuardMode::off && outcome.kind != step.guarded) {
        broken(fmt::format("{} was not {} with the guard on", step.scenario,
                           lab::attacks::to_string(step.guarded)));
      }
    }
    alone("host; the PSP checks",
          fmt::format("cvmsim attack run {} --guard detect", step.scenario));
  }
}

void run_demo(const DemoOptions& o) {
  // A fresh temporary directory, removed afterwards unless kept; or the user's, kept.
  std::optional<ScratchDir> scratch;
  fs::path dir = o.workdir;
  if (dir.empty()) {
    scratch.emplace("cvmsim-demo");
    if (o.keep) scratch->keep();
    dir = scratch->path();
  } else {
    fs::create_directories(dir);
  }
  const bool kept = !scratch || scratch->kept();
  fmt::print(
      "cvmsim demo: a protected VM image from packing to attestation, on the simulated "
      "platform\n");
  fmt::print("working in {}\n", dir.string());
  trace::Recorder recorder;
  trace::Recorder* tracing = o.trace_out.empty() ? nullptr : &recorder;
  for (crypto::SuiteId suite : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
    play_suite(suite, dir, tracing);
  }
  play_npt_guard(dir, tracing);
  if (tracing != nullptr) {
    write_trace(o.trace_out, recorder.events());
    fmt::print("event trace ({} events) written to {}\n", recorder.events().size(), o.trace_out);
  }
  fmt::print(
      "\nSummary: in both suites the provider packed an encrypted image for one chip, "
      "the PSP measured and checked the firmware, verified the image certificate and "
      "programmed the image key into the disk controller; the guest booted from its "
      "encrypted disk through PSP-mediated DMA, wrote data that survived a reboot, and "
      "obtained a signed report that verified; the hypervisor saw only ciphertext, and "
      "reordered firmware was refused. With the NPT guard, an edit behind the PSP's back was "
      "refused at the next NPT_MAP and a silent edit stopped the VM at the PSP's periodic "
      "check; without it, both went through.\n");
  if (kept) fmt::print("artifacts kept in {}\n", dir.string());
}

}  // namespace

void register_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Play the end-to-end story on built-in defaults");
  cmd->add_flag("--keep", options->keep, "Keep the temporary directory and its artifacts");
  cmd->add_option("--workdir", options->workdir, "Use (and keep) this directory");
  cmd->add_option("--trace", options->trace_out,
                  "Write the event trace of every step here (Chrome Trace Event JSON; open it "
                  "in Perfetto UI, or with cvmsim trace)");
  cmd->callback([options] { run_demo(*options); });
}

}  // namespace cvmsim::cli
