// cvmsim pack: the provider's image packer (an encrypted LUKS2 image with one image
// certificate per authorised chip; docs/cli.md "pack", docs/formats.md "Encrypted image").
#include <fmt/core.h>

#include <filesystem>

#include "cli/cli_error.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "cli/progress_bar.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "image/image_error.h"
#include "image/luks2_build.h"
#include "image/pack.h"
#include "pki/identity.h"
#include "pki/pki_error.h"

namespace cvmsim::cli {
namespace {

constexpr std::uint64_t kMaxChainFile = 1 << 20;

struct PackOptions {
  std::string in;
  std::string out;
  std::string provider_dir;
  std::vector<std::string> chip_chains;
  std::string vendor_root;
  std::string suite;
  std::uint32_t sector_size = 4096;
  std::vector<std::string> allowed_measurements;
  bool integrity = false;
  bool no_verify = false;
  bool force = false;
  OutputFormat format = OutputFormat::text;
};

// The vendor root certificate: a PEM/DER file, or a vendor directory's root.pem.
pki::Certificate load_vendor_root(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::path file =
      std::filesystem::is_directory(path, ec) ? path / "root.pem" : path;
  return pki::Certificate::parse(read_file(file, kMaxChainFile), file.string());
}

// Chain failures end with the documented chain exit code, after the usual error line.
[[noreturn]] void refuse_chain(const pki::PkiError& e) {
  report_error(e.id(), e.what(), kExitBadChain);
  throw ExitWith{kExitBadChain};
}

std::vector<image::PackChip> load_chips(const PackOptions& o, crypto::SuiteId suite) {
  std::optional<pki::Certificate> root;
  if (o.no_verify) {
    fmt::print(stderr,
               "cvmsim: WARNING: --no-verify: the chip chains are NOT checked against a vendor "
               "root.\ncvmsim: WARNING: anyone can make a chain that looks like this; the image "
               "key may be\ncvmsim: WARNING: wrapped for a key that no genuine chip holds.\n");
  } else if (o.vendor_root.empty()) {
    report_error("cli/usage",
                 "pack needs --vendor-root (the vendor's root.pem or directory) to verify the "
                 "chip chains, or --no-verify",
                 kExitUsage);
    throw ExitWith{kExitUsage};
  } else {
    // A root that does not parse is bad input (exit code 1, as in verify); only a chain
    // that does not lead to a good root is a chain failure (4).
    root = load_vendor_root(o.vendor_root);
  }
  std::vector<image::PackChip> chips;
  for (const std::string& file : o.chip_chains) {
    try {
      const pki::ChipIdentity chip = pki::parse_chip_chain(read_file(file, kMaxChainFile), file);
      if (root) chip.verify(&*root);
      if (chip.suite != suite) {
        throw image::ImageError(
            image::ImageErrc::bad_input,
            fmt::format("{}: chip {} is of suite {}, the provider and image of suite {}", file,
                        to_hex(chip.chip_id), crypto::to_string(chip.suite),
                        crypto::to_string(suite)));
      }
      chips.push_back({chip.chip_id, chip.wrapping.public_key()});
    } catch (const pki::PkiError& e) {
      if (e.code() == pki::PkiErrc::bad_chain) refuse_chain(e);
      throw;
    }
  }
  return chips;
}

void run_pack(const PackOptions& o) {
  std::vector<InputArg> inputs{
      {"--in", o.in}, {"--provider", o.provider_dir}, {"--vendor-root", o.vendor_root}};
  for (const std::string& chain : o.chip_chains) inputs.push_back({"--chip-chain", chain});
  refuse_output_over_inputs("--out", o.out, inputs);
  // An existing image may be the only copy of a provider's work; replacing it must be asked
  // for. (The same file as an input is refused above even with --force.)
  std::error_code ec;
  if (!o.force && std::filesystem::exists(std::filesystem::symlink_status(o.out, ec))) {
    throw image::ImageError(
        image::ImageErrc::already_exists,
        fmt::format("--out {} exists; pass --force to replace it, or choose another path", o.out));
  }
  const crypto::Key provider_key = pki::load_provider_key(o.provider_dir);
  const crypto::SuiteId suite = provider_key.suite();
  if (!o.suite.empty() && crypto::parse_suite(o.suite) != suite) {
    throw image::ImageError(image::ImageErrc::bad_input,
                            fmt::format("--suite {} but the provider in {} is of suite {}", o.suite,
                                        o.provider_dir, crypto::to_string(suite)));
  }
  image::PackRequest request;
  request.input = o.in;
  request.output = o.out;
  request.suite = suite;
  request.sector_size = o.sector_size;
  request.integrity = o.integrity;
  request.chips = load_chips(o, suite);
  for (const std::string& hex : o.allowed_measurements) {
    request.allowed_measurements.push_back(from_hex(hex, "--allow-measurement"));
  }
  ProgressBar progress("packing", ProgressBar::Unit::bytes);
  request.progress = [&progress](std::uint64_t done, std::uint64_t total) {
    progress.update(done, total);
  };
  const image::PackResult r = image::pack_image(request, provider_key);

  nlohmann::json chips = nlohmann::json::array();
  for (const auto& cert : r.certificates) chips.push_back(to_hex(cert.chip_id));
  const std::string_view cipher = image::to_string(image::disk_cipher_for(suite));
  if (o.format == OutputFormat::json) {
    print_json({{"image", o.out},
                {"input", o.in},
                {"input_size", r.input_size},
                {"suite", crypto::to_string(suite)},
                {"cipher", cipher},
                {"sector_size", o.sector_size},
                {"uuid", image::uuid_to_text(r.uuid)},
                {"header_size", r.header_size},
                {"data_offset", r.data_offset},
                {"data_length", r.data_length},
                {"image_size", r.image_size},
                {"integrity", r.integrity ? nlohmann::json{{"tag_offset", r.integrity->tag_offset},
                                                           {"tag_root", to_hex(r.integrity->root)}}
                                          : nlohmann::json(nullptr)},
                {"chips", chips},
                {"chains_verified", !o.no_verify}});
    return;
  }
  fmt::print(
      "packed {} into {}: {} ({}), sector size {}, {} bytes of data at offset {}, "
      "uuid {}, for {} chip(s)\n",
      o.in, o.out, cipher, crypto::to_string(suite), o.sector_size, r.data_length, r.data_offset,
      image::uuid_to_text(r.uuid), r.certificates.size());
  if (r.integrity) {
    fmt::print("sector tags at offset {}, hash tree root {}\n", r.integrity->tag_offset,
               to_hex(r.integrity->root));
  }
}

}  // namespace

void register_image_commands(CLI::App& app) {
  auto options = std::make_shared<PackOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pack", "Encrypt a raw disk image into a LUKS2 image with a certificate per chip");
  cmd->add_option("--in", options->in, "Raw disk image to encrypt")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", options->out, "Encrypted image to write")->required();
  cmd->add_option("--provider", options->provider_dir, "Provider directory (signing key)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--chip-chain", options->chip_chains,
                  "Chain of an authorised chip (from `cvmsim chip export`); repeatable")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--vendor-root", options->vendor_root,
                  "Trusted vendor root certificate (root.pem) or vendor directory")
      ->check(CLI::ExistingPath);
  cmd->add_option("--suite", options->suite, "sm or nist (must match the provider and chips)")
      ->check(CLI::IsMember({"sm", "nist"}));
  cmd->add_option("--sector-size", options->sector_size, "512 or 4096")
      ->check(CLI::IsMember({512, 4096}))
      ->capture_default_str();
  cmd->add_option("--allow-measurement", options->allowed_measurements,
                  "Launch digest (hex) allowed to receive the key; repeatable (default: any)");
  cmd->add_flag("--integrity", options->integrity,
                "Authenticate every sector: a MAC tag per sector after the data and the root of "
                "a hash tree over them in the certificate; the PSP refuses tampered, replayed "
                "and rolled-back sectors");
  cmd->add_flag("--force", options->force,
                "Replace an existing --out (never an input: that is refused even so)");
  cmd->add_flag("--no-verify", options->no_verify,
                "Do not verify the chip chains against a vendor root (dangerous)");
  add_output_option(*cmd, options->format);
  cmd->callback([options] { run_pack(*options); });
}

}  // namespace cvmsim::cli
