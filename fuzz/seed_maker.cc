// cvmsim-fuzz-seeds OUTDIR: writes a seed corpus per harness (OUTDIR/<harness>/...) made the
// way real artifacts are made: identities created by the pki module, a report signed by a
// chip's attestation key, a reference and an image certificate signed by a provider, the
// LUKS2 metadata `pack` writes around that certificate, a boot-volume header, one request
// page of every secure call and a trace recorded by the trace recorder. Every seed is
// checked to be accepted by its parser, so each starts the fuzzer deep inside the format.
// Run at build time (fuzz/CMakeLists.txt) and by fuzz/build.sh, for both crypto suites.
#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "attest/report.h"
#include "common/error.h"
#include "common/file_io.h"
#include "crypto/suite.h"
#include "image/boot_volume.h"
#include "image/image_cert.h"
#include "image/luks2.h"
#include "image/luks2_build.h"
#include "lab/explore/action.h"
#include "measure/policy.h"
#include "measure/reference.h"
#include "pki/identity.h"
#include "psp/chip_fuses.h"
#include "psp/secure_call.h"
#include "trace/reader.h"
#include "trace/trace.h"

namespace fs = std::filesystem;
using namespace cvmsim;

namespace {

class SeedWriter {
 public:
  explicit SeedWriter(fs::path root) : root_(std::move(root)) {}
  void write(const std::string& harness, const std::string& name, ByteView bytes) {
    fs::create_directories(root_ / harness);
    write_file_atomic(root_ / harness / name, bytes);
  }
  void write(const std::string& harness, const std::string& name, std::string_view text) {
    write(harness, name, as_bytes(text));
  }

 private:
  fs::path root_;
};

Bytes le64(std::uint64_t v) {
  Bytes out(8);
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

void suite_seeds(SeedWriter& out, crypto::SuiteId suite_id, const fs::path& work) {
  const std::string suite(crypto::to_string(suite_id));
  const crypto::Suite& cs = crypto::suite(suite_id);
  const fs::path vendor = work / (suite + "-vendor"), chip = work / (suite + "-chip"),
                 provider = work / (suite + "-provider");
  pki::create_vendor(vendor, suite_id, "seed vendor", false);
  const pki::ChipIdentity chip_identity = pki::create_chip(vendor, chip, false);
  const pki::ProviderIdentity provider_identity =
      pki::create_provider(provider, suite_id, "seed provider", false);
  const crypto::Key provider_key = pki::load_provider_key(provider);
  const Bytes key_id = measure::provider_key_id(provider_identity.certificate.public_key());
  const Bytes digest = cs.hash(as_bytes("seed firmware"));

  // Reference and report.
  const measure::Reference reference = measure::sign_reference(provider_key, {}, digest);
  out.write("reference", suite + ".ref", reference.encode());
  (void)measure::Reference::decode(reference.encode(), "seed");
  const psp::ChipFuses fuses = psp::load_chip_fuses(chip);
  attest::Report report;
  report.suite = suite_id;
  report.psp_version = 0x010000;
  report.chip_id = chip_identity.chip_id;
  report.disk_root = cs.hash(as_bytes("seed disk"));  // 32 or 48 bytes: cut to a root
  report.disk_root.resize(attest::kDiskRootSize);
  report.disk_version = 7;
  report.disk_integrity = attest::DiskIntegrity::authenticated;
  report.policy = measure::Policy{}.encode();
  report.launch_digest = digest;
  report.firmware_check = attest::FirmwareCheck::matched;
  report.certificate_check = attest::CertificateCheck::valid;
  report.guard_mode = 1;
  report.npt_integrity = attest::NptIntegrityState::intact;
  report.asid = 1;
  report.certificate_digest = cs.hash(as_bytes("seed certificate"));
  report.provider_key_id = key_id;
  attest::sign_report(report, fuses.attestation_key);
  out.write("report", suite + ".report", report.encode());
  (void)attest::Report::decode(report.encode(), "seed");

  // Image certificate, and the LUKS2 metadata that carries it.
  image::ImageCertificate fields;
  fields.suite = suite_id;
  fields.cipher = image::disk_cipher_for(suite_id);
  fields.key_bits = image::key_bits_for(fields.cipher);
  fields.image_uuid = image::random_uuid();
  fields.data_offset = image::luks2_data_offset_for(image::kLuks2MinHeaderSize);
  fields.data_length = 1 << 20;
  fields.chip_id = chip_identity.chip_id;
  fields.allowed_measurements = {digest};
  const Bytes image_key = crypto::random_bytes(fields.key_bits / 8);
  const image::ImageCertificate cert = image::issue_image_certificate(
      fields, image_key, chip_identity.wrapping.public_key(), provider_key);
  out.write("image_cert", suite + ".cert", cert.encode());
  (void)image::ImageCertificate::decode(cert.encode(), "seed");
  image::Luks2Volume volume;
  volume.uuid = fields.image_uuid;
  volume.cipher = fields.cipher;
  volume.data_offset = fields.data_offset;
  volume.data_length = fields.data_length;
  volume.volume_key = image_key;
  volume.tokens.push_back({chip_identity.chip_id, cert.encode()});
  out.write("luks2", suite + ".json", image::luks2_metadata_text(volume));

  // Certificates: the exported chip chain (PEM) and the root alone (DER).
  std::string chain;
  for (const pki::Certificate& c : chip_identity.chain()) chain += c.pem();
  out.write("certificate", suite + "-chain.pem", chain);
  out.write("certificate", suite + "-root.der", chip_identity.root.der());
  (void)pki::parse_chip_chain(as_bytes(chain), "seed");
}

void format_seeds(SeedWriter& out) {
  // Boot-volume headers: the first 8 bytes are the volume size the harness checks against.
  image::BootVolumeHeader boot;
  boot.kernel_offset = 4096;
  boot.kernel_size = 8192;
  boot.data_offset = 12288;
  boot.data_size = 3 * 4096;
  boot.files = {{"motd.txt", 16384, 100}, {"config", 20480, 4096}};
  const std::uint64_t volume_size = 24576;
  (void)image::BootVolumeHeader::decode(boot.encode(), volume_size, "seed");
  Bytes boot_seed = le64(volume_size);
  const Bytes block = boot.encode();
  boot_seed.insert(boot_seed.end(), block.begin(), block.end());
  out.write("boot_volume", "two-files.bin", boot_seed);

  // One request page per secure call and direction.
  using psp::SecureCallRequest;
  const std::vector<std::pair<std::string, SecureCallRequest>> calls = {
      {"image-cert", {1, psp::ImageCertCall{0x300000, 16384}}},
      {"disk-read", {2, psp::DiskIoCall{false, false, false, 8, 8192, {0x400000, 0x401000}}}},
      {"disk-write", {3, psp::DiskIoCall{false, true, false, 0, 4096, {0x402000}}}},
      {"disk-raw", {4, psp::DiskIoCall{true, false, false, 0, 4096, {0x403000}}}},
      {"disk-flush", {5, psp::DiskIoCall{false, false, true, 0, 0, {}}}},
      {"attest", {6, psp::AttestCall{{0x6e, 0x6f, 0x6e, 0x63, 0x65}}}},
  };
  for (const auto& [name, request] : calls) {
    const Bytes page = psp::encode_secure_call(request);
    if (!psp::parse_secure_call(page).result.ok()) {
      throw std::runtime_error("seed secure call " + name + " does not parse");
    }
    out.write("secure_call", name + ".page", page);
  }

  // Policies: text, then the same policy's bits in the first 8 bytes.
  for (const char* text : {"guard=detect,integrity=merkle,memory-encryption=on,debug=off",
                           "guard=isolate,integrity=full", "guard=off,memory-encryption=off"}) {
    const measure::Policy policy = measure::Policy::parse(text);
    out.write("policy", fmt::format("text-{}", policy.encode()), std::string_view(text));
    out.write("policy", fmt::format("bits-{}", policy.encode()), le64(policy.encode()));
  }

  // A trace with an event of every category and both kinds of lane.
  trace::Recorder recorder;
  recorder.record({.actor = trace::Actor::vmm,
                   .target = trace::Actor::psp,
                   .name = "LAUNCH_START",
                   .category = trace::category::psp_command,
                   .vm = 1,
                   .asid = 1,
                   .args = {{"status", "success"}, {"policy", "0x102"}}});
  recorder.record({.actor = trace::Actor::guest,
                   .target = trace::Actor::psp,
                   .name = "DISK_IO",
                   .category = trace::category::secure_call,
                   .vm = 1,
                   .asid = 1,
                   .args = {{"status", "io_error"}, {"sectors", 8}, {"dir", "to_memory"}}});
  recorder.record({.actor = trace::Actor::vmm,
                   .name = "nested_page_fault",
                   .category = trace::category::npt,
                   .vm = 1,
                   .asid = 1,
                   .args = {{"gpa", 0x200000}, {"pages", 16}}});
  recorder.record({.actor = trace::Actor::disk_controller,
                   .target = trace::Actor::vmm,
                   .name = "completion_interrupt",
                   .category = trace::category::interrupt,
                   .vm = 1,
                   .asid = 1,
                   .args = {{"vector", 0x40}}});
  recorder.record({.actor = trace::Actor::psp,
                   .name = "periodic_check",
                   .category = trace::category::timer,
                   .vm = 1,
                   .args = {{"detail", 2}}});
  recorder.record({.actor = trace::Actor::tenant,
                   .name = "verify",
                   .category = trace::category::tool,
                   .args = {{"nested", {{"a", {1, 2}}}}}});
  const std::string trace_text = trace::to_chrome_json(recorder.events()).dump(1);
  (void)trace::parse_trace(trace_text, "seed");
  out.write("trace", "categories.json", trace_text);

  // Host action sequences (first byte: 0 detect, 1 isolate): every alphabet action once,
  // and the attacks the invariants are about.
  using lab::explore::Action;
  using lab::explore::FrameRef;
  const auto alphabet = lab::explore::exploration_alphabet(2);
  for (std::uint8_t mode = 0; mode < 2; ++mode) {
    Bytes every{mode};
    const Bytes actions = lab::explore::encode_actions(alphabet);
    every.insert(every.end(), actions.begin(), actions.end());
    out.write("psp_sequence", fmt::format("alphabet-{}", mode), every);
    const std::vector<Action> attacks = {
        {Action::Kind::map, 0, 1, {FrameRef::Kind::pool, 2}, 0},
        {Action::Kind::map, 1, 1, {FrameRef::Kind::pool, 2}, 0},         // the same frame
        {Action::Kind::map, 1, 2, {FrameRef::Kind::launch_page, 0}, 0},  // vm0's firmware
        {Action::Kind::tamper_npt, 0, 0, {}, 3},
        {Action::Kind::map, 0, 3, {FrameRef::Kind::pool, 3}, 0},  // on tampered tables
        {Action::Kind::tick, 0, 0, {}, 0},
        {Action::Kind::unmap, 1, 1, {}, 0},
        {Action::Kind::donate, 1, 0, {FrameRef::Kind::pool, 2}, 0},
        {Action::Kind::unmap, 0, 1, {}, 0},                       // pool 2 awaits a flush
        {Action::Kind::map, 1, 5, {FrameRef::Kind::pool, 2}, 0},  // tlb_not_tracked
        {Action::Kind::track, 0, 0, {}, 0},
        {Action::Kind::map, 1, 5, {FrameRef::Kind::pool, 2}, 0},  // now vm1's
        {Action::Kind::write_frame, 0, 0, {FrameRef::Kind::npt_root, 1}, 9},
        {Action::Kind::decommission, 0, 0, {}, 0},
        {Action::Kind::map, 1, 4, {FrameRef::Kind::launch_page, 0}, 0},  // freed by vm0
    };
    Bytes attack{mode};
    const Bytes encoded = lab::explore::encode_actions(attacks);
    attack.insert(attack.end(), encoded.begin(), encoded.end());
    out.write("psp_sequence", fmt::format("attacks-{}", mode), attack);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: {} OUTDIR\n", argv[0]);
    return 2;
  }
  try {
    const fs::path root(argv[1]);
    const fs::path work = root / ".identities";
    fs::remove_all(work);
    SeedWriter out(root);
    for (crypto::SuiteId suite : {crypto::SuiteId::sm, crypto::SuiteId::nist}) {
      suite_seeds(out, suite, work);
    }
    format_seeds(out);
    fs::remove_all(work);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cvmsim-fuzz-seeds: {}\n", e.what());
    return 1;
  }
}
