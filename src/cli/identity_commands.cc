// cvmsim vendor / chip / provider: the identities of the vendor, its chips and providers.
#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/file_args.h"
#include "cli/output.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "pki/identity.h"

namespace cvmsim::cli {
namespace {

struct VendorInitOptions {
  std::string dir;
  std::string suite = "sm";
  std::string name = "cvmsim-vendor";
  bool force = false;
};

struct ChipNewOptions {
  std::string vendor_dir;
  std::string chip_dir;
  bool force = false;
  OutputFormat format = OutputFormat::text;
};

struct ChipExportOptions {
  std::string chip_dir;
  std::string out;
  std::string encoding = "pem";
};

struct ChipShowOptions {
  std::string chip_dir;
  OutputFormat format = OutputFormat::text;
};

struct ProviderInitOptions {
  std::string dir;
  std::string suite = "sm";
  std::string name = "cvmsim-provider";
  bool force = false;
};

nlohmann::json describe_chip(const pki::ChipIdentity& chip) {
  nlohmann::json certs = nlohmann::json::array();
  for (const auto& cert : chip.chain()) {
    certs.push_back({{"subject", cert.subject()},
                     {"issuer", cert.issuer()},
                     {"not_after", cert.not_after()},
                     {"sha256", to_hex(cert.sha256_fingerprint())}});
  }
  return {{"chip_id", to_hex(chip.chip_id)},
          {"suite", crypto::to_string(chip.suite)},
          {"vendor", chip.vendor},
          {"certificates", certs}};
}

void print_chip(const pki::ChipIdentity& chip, OutputFormat format) {
  if (format == OutputFormat::json) {
    print_json(describe_chip(chip));
    return;
  }
  fmt::print("chip {} (suite {}, vendor {})\n", to_hex(chip.chip_id), crypto::to_string(chip.suite),
             chip.vendor);
  for (const auto& cert : chip.chain()) {
    fmt::print("  {:<6} {}  <- {}\n", cert.common_name().substr(0, cert.common_name().find(' ')),
               cert.subject(), cert.issuer());
  }
}

void add_suite_option(CLI::App& cmd, std::string& suite) {
  cmd.add_option("--suite", suite, "Crypto suite: sm (SM2/SM3/SM4) or nist (P-384/SHA-384/AES)")
      ->check(CLI::IsMember({"sm", "nist"}))
      ->capture_default_str();
}

}  // namespace

void register_identity_commands(CLI::App& app) {
  CLI::App* vendor = app.add_subcommand("vendor", "The chip vendor's root of trust");
  vendor->require_subcommand(1);
  auto vendor_init = std::make_shared<VendorInitOptions>();
  CLI::App* init = vendor->add_subcommand(
      "init", "Create a vendor directory: root key (HRK/ARK) and signing key (HSK/ASK)");
  init->add_option("DIR", vendor_init->dir, "Directory to create")->required();
  add_suite_option(*init, vendor_init->suite);
  init->add_option("--name", vendor_init->name, "Vendor name (certificate organisation)")
      ->capture_default_str();
  init->add_flag("--force", vendor_init->force, "Replace an existing directory");
  init->callback([vendor_init] {
    const auto v = pki::create_vendor(vendor_init->dir, crypto::parse_suite(vendor_init->suite),
                                      vendor_init->name, vendor_init->force);
    fmt::print("created vendor '{}' (suite {}) in {}: {} -> {}\n", v.name,
               crypto::to_string(v.suite), vendor_init->dir, v.root.common_name(),
               v.signing.common_name());
  });

  CLI::App* chip = app.add_subcommand("chip", "Chips and their endorsement chains");
  chip->require_subcommand(1);
  auto chip_new = std::make_shared<ChipNewOptions>();
  CLI::App* create = chip->add_subcommand(
      "new", "Manufacture a chip: chip id, endorsement, attestation and key-wrapping keys");
  create->add_option("--vendor", chip_new->vendor_dir, "Vendor directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  create->add_option("CHIPDIR", chip_new->chip_dir, "Chip directory to create")->required();
  create->add_flag("--force", chip_new->force, "Replace an existing directory");
  add_output_option(*create, chip_new->format);
  create->callback([chip_new] {
    print_chip(pki::create_chip(chip_new->vendor_dir, chip_new->chip_dir, chip_new->force),
               chip_new->format);
  });

  auto chip_export = std::make_shared<ChipExportOptions>();
  CLI::App* exp = chip->add_subcommand(
      "export", "Write the chip's certificate chain (root first) for verifiers and packers");
  exp->add_option("CHIPDIR", chip_export->chip_dir, "Chip directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  exp->add_option("--out", chip_export->out, "Chain file to write")->required();
  exp->add_option("--format", chip_export->encoding, "pem or der (concatenated DER)")
      ->check(CLI::IsMember({"pem", "der"}))
      ->capture_default_str();
  exp->callback([chip_export] {
    refuse_output_over_inputs("--out", chip_export->out, {{"CHIPDIR", chip_export->chip_dir}});
    const auto identity = pki::load_chip(chip_export->chip_dir);
    if (chip_export->encoding == "pem") {
      write_text_file_atomic(chip_export->out, pki::to_pem_bundle(identity.chain()));
    } else {
      Bytes der;
      for (const auto& cert : identity.chain()) append(der, cert.der());
      write_file_atomic(chip_export->out, der);
    }
    fmt::print("wrote the {}-certificate chain of chip {} to {}\n", identity.chain().size(),
               to_hex(identity.chip_id), chip_export->out);
  });

  auto chip_show = std::make_shared<ChipShowOptions>();
  CLI::App* show = chip->add_subcommand("show", "Describe a chip directory");
  show->add_option("CHIPDIR", chip_show->chip_dir, "Chip directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  add_output_option(*show, chip_show->format);
  show->callback(
      [chip_show] { print_chip(pki::load_chip(chip_show->chip_dir), chip_show->format); });

  CLI::App* provider = app.add_subcommand("provider", "The image provider's signing identity");
  provider->require_subcommand(1);
  auto provider_init = std::make_shared<ProviderInitOptions>();
  CLI::App* pinit = provider->add_subcommand(
      "init", "Create a provider directory: signing key and self-describing certificate");
  pinit->add_option("DIR", provider_init->dir, "Directory to create")->required();
  add_suite_option(*pinit, provider_init->suite);
  pinit->add_option("--name", provider_init->name, "Provider name")->capture_default_str();
  pinit->add_flag("--force", provider_init->force, "Replace an existing directory");
  pinit->callback([provider_init] {
    const auto p =
        pki::create_provider(provider_init->dir, crypto::parse_suite(provider_init->suite),
                             provider_init->name, provider_init->force);
    fmt::print("created provider '{}' (suite {}) in {}\n", p.name, crypto::to_string(p.suite),
               provider_init->dir);
  });
}

}  // namespace cvmsim::cli
