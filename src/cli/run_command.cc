// cvmsim run: boot confidential VMs on the simulated platform.
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "attest/report.h"
#include "cli/cli_error.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "cli/refusal_hints.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "hw/dram_alias.h"
#include "hw/hw_error.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "trace/trace.h"
#include "vmm/vmm.h"
#include "vmm/vmm_error.h"

namespace cvmsim::cli {
namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string chip_dir;
  std::string firmware;
  std::string reference;
  std::string provider;
  std::string memory = "256M";
  std::string image;         // the VM's disk: an encrypted image (cvmsim pack)
  std::string attest_nonce;  // hex, up to 64 bytes: offered to the guest for ATTEST
  std::string report_out;    // where the guest's attestation report goes
  std::string evidence_out;  // a directory: the report and the chip's chain, for verify
  int vms = 1;
  int timeout_seconds = 60;            // wall clock, the whole run: the host's safety net
  std::string max_sim_time = "10s";    // simulated time per VM: the deterministic bound
  std::string trace_out;               // Chrome Trace Event JSON of the run
  std::string check_interval = "1ms";  // simulated time between periodic NPT checks
  std::uint64_t check_pages = 0;       // table pages per check tick (0: the whole table)
  std::uint64_t fault_around = vmm::kDefaultFaultAround;  // pages per nested page fault
  bool count_instructions = false;
  std::vector<std::string> dram_aliases;  // ALIAS:TARGET:LENGTH, a tampered SPD (BadRAM)
  bool skip_dram_alias_check = false;     // firmware without the BadRAM countermeasure
  bool image_read_only = false;           // shared lock, guest writes refused (write_protected)
  OutputFormat format = OutputFormat::text;
};

// --dram-alias values, checked against the platform's host memory: a usage error (2)
// naming the option, like any other bad value.
std::vector<hw::DramAlias> parse_dram_aliases(const std::vector<std::string>& texts) {
  std::vector<hw::DramAlias> aliases;
  try {
    for (const std::string& text : texts) aliases.push_back(hw::parse_dram_alias(text));
    hw::check_dram_aliases(aliases, hw::kDefaultHostMemory);
  } catch (const hw::HwError& e) {
    throw CLI::ValidationError("--dram-alias", e.what());
  }
  return aliases;
}

std::uint64_t parse_size(const std::string& text) {
  std::size_t used = 0;
  std::uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    throw CLI::ValidationError("--mem", "'" + text + "' is not a size like 256M or 4G");
  }
  const std::string unit = text.substr(used);
  const std::uint64_t scale = unit.empty()  ? 1
                              : unit == "K" ? 1ull << 10
                              : unit == "M" ? 1ull << 20
                              : unit == "G" ? 1ull << 30
                              : unit == "T" ? 1ull << 40
                                            : 0;
  if (scale == 0 || value == 0 || value > (1ull << 40) / scale) {
    throw CLI::ValidationError("--mem", "'" + text + "' must be 1..1T with unit K, M, G or T");
  }
  return value * scale;
}

// Simulated microseconds from "500us", "2ms", "1s" or a plain number of microseconds.
std::uint64_t parse_sim_time(const std::string& text, const std::string& option) {
  std::size_t used = 0;
  std::uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    throw CLI::ValidationError(option,
                               "'" + text + "' is not a simulated time like 500us, 2ms or 1s");
  }
  const std::string unit = text.substr(used);
  const std::uint64_t scale = unit.empty() || unit == "us" ? 1
                              : unit == "ms"               ? 1'000
                              : unit == "s"                ? 1'000'000
                                                           : 0;
  if (scale == 0 || value > (1ull << 40) / scale) {
    throw CLI::ValidationError(option, "'" + text + "' must be 0..1099511 s with unit us, ms or s");
  }
  return value * scale;
}

// The provider's public key from a provider directory, a certificate or a key file.
Bytes provider_public_key(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return pki::load_provider(path).certificate.public_key().public_der();
  }
  return pki::certificate_or_key(read_file(path, 1 << 20), path.string()).public_der();
}

// The evidence directory must be new or empty: it is the tenant's bundle, never a place
// that holds inputs (the chip directory, the image) or older evidence.
void refuse_evidence_dir(const RunOptions& o) {
  if (o.evidence_out.empty()) return;
  std::error_code ec;
  if (!fs::exists(o.evidence_out, ec)) return;
  if (!fs::is_directory(o.evidence_out, ec) || !fs::is_empty(o.evidence_out, ec)) {
    throw CLI::ValidationError("--evidence-out",
                               fmt::format("{} exists and is not an empty directory: choose a new "
                                           "path (nothing was written)",
                                           o.evidence_out));
  }
}

// The evidence bundle `cvmsim verify DIR` reads: the report and the chain of the chip that
// signed it (docs/cli.md, "run with an image").
void write_evidence(const fs::path& dir, ByteView report, const fs::path& chip_dir) {
  fs::create_directories(dir);
  write_text_file_atomic(dir / "chain.pem", pki::to_pem_bundle(pki::load_chip(chip_dir).chain()));
  write_file_atomic(dir / "report.bin", report);
}

// No output path may name one of the run's inputs (a usage error before anything runs).
void refuse_outputs_over_inputs(const RunOptions& o) {
  refuse_output_over_inputs("--report-out", o.report_out,
                            {{"--image", o.image},
                             {"--firmware", o.firmware},
                             {"--reference", o.reference},
                             {"--provider", o.provider},
                             {"--chip", o.chip_dir}});
  refuse_output_over_inputs("--trace", o.trace_out,
                            {{"--image", o.image},
                             {"--firmware", o.firmware},
                             {"--reference", o.reference},
                             {"--provider", o.provider},
                             {"--chip", o.chip_dir},
                             {"--report-out", o.report_out}});
  refuse_evidence_dir(o);
}

// What every VM of the run is launched with, read and checked from the options.
vmm::LaunchRequest launch_request_from(const RunOptions& o) {
  vmm::LaunchRequest request;
  request.firmware = read_file(o.firmware, measure::GuestLayout{}.max_firmware_size);
  request.reference = read_file(o.reference, measure::kMaxReferenceSize);
  request.provider_key = provider_public_key(o.provider);
  request.policy = measure::Reference::decode(request.reference, o.reference).policy;
  request.memory_size = parse_size(o.memory);
  if (!o.image.empty()) request.disk = o.image;
  request.disk_writable = !o.image_read_only;
  if (!o.attest_nonce.empty()) {
    request.host_input = from_hex(o.attest_nonce, "--attest-nonce");
    if (request.host_input.size() > attest::kReportDataSize) {
      throw CLI::ValidationError("--attest-nonce", "takes at most 64 bytes (128 hex digits)");
    }
    request.host_input.resize(attest::kReportDataSize, 0);  // zero-padded report data
  }
  if (request.disk && o.vms != 1) {
    throw CLI::ValidationError("--image", "boots one VM (--vms 1): a disk has one owner");
  }
  return request;
}

// Launches `count` VMs; the first refusal ends the run with its reason and a hint.
std::vector<psp::VmHandle> launch_all(vmm::Vmm& vmm, const vmm::LaunchRequest& request, int count,
                                      const RunInputs& inputs) {
  std::vector<psp::VmHandle> handles;
  for (int i = 0; i < count; ++i) {
    try {
      handles.push_back(vmm.launch(request));
    } catch (const vmm::VmmError& e) {
      const std::string hint = launch_refusal_hint(inputs);
      report_error(e.id(),
                   fmt::format("VM {} was not started: {}{}", i + 1, e.what(),
                               hint.empty() ? "" : "; " + hint),
                   kExitVmFailed);
      throw ExitWith{kExitVmFailed};
    }
  }
  return handles;
}

// One VM's run as `run -o json` reports it.
nlohmann::json vm_summary(psp::VmHandle handle, const vmm::RunResult& r,
                          const std::optional<psp::VmInfo>& info, const measure::Policy& policy,
                          std::uint64_t npt_checks, double ms) {
  return {{"vm", handle},
          {"fate", vmm::to_string(r.fate)},
          {"exit_status", r.exit_status ? nlohmann::json(*r.exit_status) : nullptr},
          {"detail", r.detail},
          {"console", r.console},
          {"asid", info ? info->asid : 0},
          {"policy", policy.to_string()},
          {"vm_exits", r.stats.exits},
          {"nested_page_faults", r.stats.nested_page_faults},
          {"pages_mapped", r.stats.pages_mapped},
          {"psp_commands", r.stats.psp_commands},
          {"psp_private_memory_bytes", info ? info->private_memory : 0},
          {"secure_calls", r.stats.secure_calls},
          {"secure_calls_refused", r.stats.secure_calls_refused},
          {"interrupts_injected", r.stats.interrupts_injected},
          {"console_dropped", r.console_dropped},
          {"simulated_us", r.stats.simulated_us},
          {"instructions", r.stats.instructions ? nlohmann::json(*r.stats.instructions) : nullptr},
          {"npt_checks", npt_checks},
          {"run_ms", ms}};
}

// The same as text: the guest's console, then one summary line and what went wrong.
void print_vm_text(psp::VmHandle handle, const vmm::RunResult& r,
                   const std::optional<psp::VmInfo>& info, const nlohmann::json& refusals,
                   bool has_disk, double ms) {
  fmt::print("{}", r.console);
  fmt::print(
      "-- VM {} {}{}: {}{} exits, {} nested page faults, {} pages mapped, {} PSP "
      "commands, {} bytes of PSP private memory, {} sim-us, {:.1f} ms\n",
      handle, vmm::to_string(r.fate),
      r.exit_status ? fmt::format(" (status {})", *r.exit_status) : "",
      r.stats.instructions ? fmt::format("{} instructions, ", *r.stats.instructions) : "",
      r.stats.exits, r.stats.nested_page_faults, r.stats.pages_mapped, r.stats.psp_commands,
      info ? info->private_memory : 0, r.stats.simulated_us, ms);
  if (!r.detail.empty()) fmt::print("   {}\n", r.detail);
  for (const auto& refusal : refusals) {
    fmt::print("   PSP refused {}: {}\n", refusal["call"].get<std::string>(),
               refusal["text"].get<std::string>());
  }
  if (r.console_dropped > 0) {
    fmt::print("   console: {} more bytes dropped (a run keeps the first {} bytes)\n",
               r.console_dropped, vmm::kMaxConsoleBytes);
  }
  if (has_disk) {
    fmt::print("   disk: {} secure calls ({} refused), {} completion interrupts\n",
               r.stats.secure_calls, r.stats.secure_calls_refused, r.stats.interrupts_injected);
  }
}

// With --attest-nonce: writes the guest's report (and evidence bundle) where the options
// say, noting it in `vm`. False when the guest returned no report.
bool deliver_report(const RunOptions& o, psp::VmHandle handle, const vmm::RunResult& r,
                    nlohmann::json& vm) {
  if (r.host_output.empty()) {
    std::fflush(stdout);  // keep the summary before the complaint when both are piped
    fmt::print(stderr, "cvmsim: error [cli/no_report]: VM {} returned no attestation report\n",
               handle);
    vm["error"] = "no attestation report";
    return false;
  }
  if (!o.report_out.empty()) {
    write_file_atomic(o.report_out, r.host_output);
    vm["report"] = o.report_out;
    if (o.format == OutputFormat::text) {
      fmt::print("   attestation report ({} bytes) written to {}\n", r.host_output.size(),
                 o.report_out);
    }
  }
  if (!o.evidence_out.empty()) {
    write_evidence(o.evidence_out, r.host_output, o.chip_dir);
    vm["evidence"] = o.evidence_out;
    if (o.format == OutputFormat::text) {
      fmt::print("   evidence (report.bin, chain.pem) written to {}\n", o.evidence_out);
    }
  }
  return true;
}

void run_vms(const RunOptions& o) {
  using HostClock = std::chrono::steady_clock;  // the host safety net and wall-time report
  refuse_outputs_over_inputs(o);
  // One wall-clock bound for the whole run, whatever the guests do (the host's safety net).
  const auto host_deadline = HostClock::now() + std::chrono::seconds(o.timeout_seconds);
  vmm::RunLimits limits{.max_sim_ns = parse_sim_time(o.max_sim_time, "--max-sim-time") * 1000,
                        .host_deadline = host_deadline};
  if (limits.max_sim_ns == 0) {
    throw CLI::ValidationError("--max-sim-time", "must be more than 0");
  }
  trace::Recorder recorder;
  vmm::PlatformOptions platform_options{.trace = o.trace_out.empty() ? nullptr : &recorder};
  platform_options.dram_aliases = parse_dram_aliases(o.dram_aliases);
  platform_options.psp.dram_alias_check = !o.skip_dram_alias_check;
  vmm::Platform platform(o.chip_dir, platform_options);
  vmm::Vmm vmm(platform);
  vmm.set_check_interval(parse_sim_time(o.check_interval, "--check-interval"), o.check_pages);
  vmm.set_fault_around(o.fault_around);
  vmm.set_cpu_options({.count_instructions = o.count_instructions});
  const vmm::LaunchRequest request = launch_request_from(o);
  const RunInputs inputs{.firmware = request.firmware,
                         .reference = request.reference,
                         .firmware_name = o.firmware,
                         .chip_dir = o.chip_dir,
                         .image = o.image};
  const std::vector<psp::VmHandle> handles = launch_all(vmm, request, o.vms, inputs);
  if (!o.trace_out.empty() && !request.host_input.empty()) {
    // The tenant's nonce reaches the guest through the untrusted host channel.
    recorder.record({.actor = trace::Actor::tenant,
                     .target = trace::Actor::vmm,
                     .name = "attest_nonce",
                     .category = trace::category::tool,
                     .args = {{"nonce", to_hex(request.host_input)}}});
  }
  nlohmann::json report = nlohmann::json::array();
  bool all_ok = true;
  for (psp::VmHandle handle : handles) {
    const auto start = HostClock::now();
    const vmm::RunResult r = vmm.run(handle, limits);
    const double ms = std::chrono::duration<double, std::milli>(HostClock::now() - start).count();
    const auto info = platform.psp().vm_info(handle);
    all_ok = all_ok && r.fate == vmm::VmFate::exited && r.exit_status == 0u;
    nlohmann::json vm =
        vm_summary(handle, r, info, request.policy, platform.psp().check_timer().ticks(), ms);
    const nlohmann::json refusals = decode_console_refusals(r.console, inputs);
    vm["psp_refusals"] = refusals;
    if (o.format == OutputFormat::text) {
      print_vm_text(handle, r, info, refusals, request.disk.has_value(), ms);
    }
    if (!o.attest_nonce.empty() && !deliver_report(o, handle, r, vm)) all_ok = false;
    report.push_back(vm);
  }
  if (!o.trace_out.empty()) write_trace(o.trace_out, recorder.events());
  if (o.format == OutputFormat::json) {
    print_json({{"vms", report},
                {"psp_private_memory_used", platform.psp().private_memory().used()},
                {"psp_private_memory_budget", platform.psp().private_memory().budget()}});
  }
  if (!all_ok) throw ExitWith{kExitVmFailed};
}

}  // namespace

void register_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Boot confidential VMs on the simulated platform");
  cmd->add_option("--chip", o->chip_dir, "Chip directory (the platform's identity and fuses)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--firmware", o->firmware, "Firmware image (flat x86-64 binary)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--reference", o->reference, "Signed reference measurement (CVMSREF1)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--provider", o->provider,
                  "Provider directory, certificate or public key that signed the reference")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--mem", o->memory, "Guest-physical memory per VM (e.g. 256M, 4G, 1T)")
      ->capture_default_str();
  cmd->add_option("--vms", o->vms, "Number of VMs to launch on the platform")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  cmd->add_option("--check-interval", o->check_interval,
                  "Simulated time between the PSP's periodic NPT checks (e.g. 500us, 2ms, 1s; "
                  "0: off)")
      ->capture_default_str();
  cmd->add_option("--check-pages", o->check_pages,
                  "Table pages each periodic check verifies per VM (merkle; 0: the whole "
                  "table; tampering is found within ceil(table pages / N) intervals)")
      ->capture_default_str();
  cmd->add_option("--fault-around", o->fault_around,
                  "Pages the VMM asks the PSP to map per nested page fault (a power of two, "
                  "1..512)")
      ->check([](const std::string& text) -> std::string {
        std::uint64_t n = 0;
        try {
          n = std::stoull(text);
        } catch (const std::exception&) {
          return "'" + text + "' is not a number";
        }
        return n >= 1 && n <= 512 && (n & (n - 1)) == 0 ? "" : "must be a power of two, 1..512";
      })
      ->capture_default_str();
  cmd->add_flag("--count-instructions", o->count_instructions,
                "Count guest instructions for the summary (guest code runs about 17x slower)");
  cmd->add_option("--dram-alias", o->dram_aliases,
                  "Give the platform a DRAM alias, as a tampered SPD does (BadRAM): host-physical "
                  "ALIAS:TARGET:LENGTH (bytes, 4 KiB multiples; 0x hex or decimal); repeatable")
      ->type_name("ALIAS:TARGET:LENGTH");
  cmd->add_flag("--skip-dram-alias-check", o->skip_dram_alias_check,
                "Start the PSP without its boot-time DRAM alias check (firmware without the "
                "BadRAM fix; the report then says not_run)");
  cmd->add_option("--timeout", o->timeout_seconds,
                  "Wall-clock limit of the whole run, seconds (the host's safety net; a run it "
                  "cuts short fails with 'host timeout')")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--max-sim-time", o->max_sim_time,
                  "Simulated time each VM may run (e.g. 500ms, 10s): a guest that never ends is "
                  "stopped here, the same way on every host")
      ->capture_default_str();
  cmd->add_option("--trace", o->trace_out,
                  "Write the run's event trace here (Chrome Trace Event JSON; cvmsim trace)");
  cmd->add_option("--image", o->image,
                  "Encrypted VM image (cvmsim pack) to attach as the VM's disk")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--image-read-only", o->image_read_only,
                "Attach the image read-only: shared with other readers, guest writes refused "
                "(PSP status write_protected)")
      ->needs(cmd->get_option("--image"));
  cmd->add_option("--attest-nonce", o->attest_nonce,
                  "Hex nonce (<= 64 bytes, zero-padded) the guest gets for an attestation report");
  cmd->add_option("--report-out", o->report_out, "Write the guest's attestation report here")
      ->needs(cmd->get_option("--attest-nonce"));
  cmd->add_option("--evidence-out", o->evidence_out,
                  "Write the report and the chip's chain into this new directory (cvmsim "
                  "verify DIR checks it)")
      ->needs(cmd->get_option("--attest-nonce"));
  add_output_option(*cmd, o->format);
  cmd->callback([o] { run_vms(*o); });
}

}  // namespace cvmsim::cli
