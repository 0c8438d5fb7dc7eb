// cvmsim mkdisk: build a plaintext boot volume (boot header, kernel payload, data area with
// files) that `cvmsim pack` turns into an encrypted image; cvmsim guest: export the guest
// programs built into the binary (the boot firmware and the demo kernel among them).
#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "guest_images.h"
#include "image/boot_volume.h"
#include "measure/launch_plan.h"

namespace cvmsim::cli {
namespace {

struct MkdiskOptions {
  std::string kernel;
  std::string builtin_kernel;
  std::vector<std::string> files;  // NAME=PATH
  std::uint64_t free_kib = 1024;
  std::string out;
  OutputFormat format = OutputFormat::text;
};

ByteView named_builtin_guest(const std::string& name, const std::string& option) {
  const auto& images = guest_images::all();
  const auto it = images.find(name);
  if (it == images.end()) {
    std::string names;
    for (const auto& [n, _] : images) names += (names.empty() ? "" : ", ") + std::string(n);
    throw CLI::ValidationError(option,
                               fmt::format("no built-in guest '{}' (have: {})", name, names));
  }
  return it->second;
}

// The PATH of a NAME=PATH --file argument; a missing file is a command-line error, as
// for every other input option (exit code 2).
std::string file_arg_path(const std::string& entry) {
  const auto eq = entry.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
    throw CLI::ValidationError("--file", fmt::format("'{}' is not NAME=PATH", entry));
  }
  std::string path = entry.substr(eq + 1);
  if (const std::string why = CLI::ExistingFile(path); !why.empty()) {
    throw CLI::ValidationError("--file", why);
  }
  return path;
}

void mkdisk(const MkdiskOptions& o) {
  std::vector<InputArg> inputs{{"--kernel", o.kernel}};
  for (const std::string& entry : o.files) inputs.push_back({"--file", file_arg_path(entry)});
  refuse_output_over_inputs("--out", o.out, inputs);
  image::BootVolumeSpec spec;
  if (!o.kernel.empty()) {
    spec.kernel = read_file(o.kernel, image::kMaxKernelSize + 1);
  } else {
    const ByteView k = named_builtin_guest(o.builtin_kernel, "--builtin-kernel");
    spec.kernel.assign(k.begin(), k.end());
  }
  for (const std::string& entry : o.files) {
    const auto eq = entry.find('=');
    spec.files.push_back({entry.substr(0, eq), read_file(file_arg_path(entry), 256ull << 20)});
  }
  spec.free_space = o.free_kib * 1024;
  const Bytes volume = image::build_boot_volume(spec);
  write_file_atomic(o.out, volume);
  const auto header = image::BootVolumeHeader::decode(volume, volume.size(), o.out);
  if (o.format == OutputFormat::json) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : header.files) {
      files.push_back({{"name", f.name}, {"offset", f.offset}, {"size", f.size}});
    }
    print_json({{"volume", o.out},
                {"size", volume.size()},
                {"kernel_offset", header.kernel_offset},
                {"kernel_size", header.kernel_size},
                {"data_offset", header.data_offset},
                {"data_size", header.data_size},
                {"files", files}});
  } else {
    fmt::print("{}: {} bytes: kernel {} bytes at {:#x}, data area {} bytes at {:#x}, {} file(s)\n",
               o.out, volume.size(), header.kernel_size, header.kernel_offset, header.data_size,
               header.data_offset, header.files.size());
  }
}

}  // namespace

void register_disk_commands(CLI::App& app) {
  auto o = std::make_shared<MkdiskOptions>();
  CLI::App* cmd = app.add_subcommand(
      "mkdisk", "Build a plaintext boot volume (boot header, kernel payload, data area)");
  auto* kernel = cmd->add_option("--kernel", o->kernel, "Kernel payload image (flat binary)")
                     ->check(CLI::ExistingFile);
  auto* builtin_kernel = cmd->add_option("--builtin-kernel", o->builtin_kernel,
                                         "A kernel built into cvmsim instead (e.g. disk_demo)");
  kernel->excludes(builtin_kernel);
  cmd->add_option("--file", o->files, "A file for the data area, NAME=PATH (repeatable)");
  cmd->add_option("--free-kib", o->free_kib, "Writable free space in the data area, KiB")
      ->check(CLI::Range(std::uint64_t{4}, std::uint64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Output volume")->required();
  add_output_option(*cmd, o->format);
  cmd->callback([o, kernel, builtin_kernel] {
    if (kernel->count() + builtin_kernel->count() != 1) {
      throw CLI::ValidationError("--kernel", "give --kernel FILE or --builtin-kernel NAME");
    }
    mkdisk(*o);
  });

  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  CLI::App* guest = app.add_subcommand("guest", "The guest programs built into cvmsim");
  guest->require_subcommand(1);
  auto list_format = std::make_shared<OutputFormat>(OutputFormat::text);
  CLI::App* list = guest->add_subcommand("list", "List the built-in guest programs");
  add_output_option(*list, *list_format);
  list->callback([list_format] {
    nlohmann::json guests = nlohmann::json::array();
    for (const auto& [n, bytes] : guest_images::all()) {
      const std::string digest = to_hex(measure::measure_plan(
          measure::plan_firmware_launch(bytes, measure::GuestLayout{}, n), crypto::SuiteId::sm));
      if (*list_format == OutputFormat::json) {
        guests.push_back({{"name", n}, {"size", bytes.size()}, {"launch_digest_sm", digest}});
      } else {
        fmt::print("{:12} {:7} bytes  launch digest (sm) {}\n", n, bytes.size(), digest);
      }
    }
    if (*list_format == OutputFormat::json) print_json({{"guests", guests}});
  });
  CLI::App* exp = guest->add_subcommand("export", "Write a built-in guest program to a file");
  exp->add_option("name", *name, "Program name (see `cvmsim guest list`)")->required();
  exp->add_option("--out", *out, "Output file")->required();
  exp->callback([name, out] {
    const ByteView bytes = named_builtin_guest(*name, "name");
    write_file_atomic(*out, bytes);
  });
}

}  // namespace cvmsim::cli
