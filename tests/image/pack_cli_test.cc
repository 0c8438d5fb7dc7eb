// `cvmsim pack` and `cvmsim inspect` on images, as a provider runs them: identities made
// with the CLI, images checked with cryptsetup, an independent XTS implementation and (the
// sector tags of authenticated images) scripts/verify_image_tags.py, keys recovered with
// the chip's fuses as the PSP would.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/file_io.h"
#include "common/hex.h"
#include "crypto/crypto_error.h"
#include "crypto/sector_tags.h"
#include "crypto/suite.h"
#include "image/image_cert.h"
#include "image/image_file.h"
#include "image/luks2.h"
#include "pki/identity.h"
#include "psp/chip_fuses.h"
#include "reference_xts.h"
#include "support/documented_snippet.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim::image {
namespace {

namespace fs = std::filesystem;
using test::run_cli;
using test::run_command;

Bytes raw_disk(std::size_t size) {
  Bytes raw(size);
  std::uint32_t x = 0x12345678;
  for (auto& b : raw) {
    x = x * 1103515245u + 12345u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  return raw;
}

// Everything a provider has: a vendor with two chips, a provider, and a second vendor's
// chip that the first vendor's root must not accept.
class Identities {
 public:
  explicit Identities(const std::string& suite) : suite_(suite) {
    run_ok({"vendor", "init", "--suite", suite, path("vendor")});
    run_ok({"vendor", "init", "--suite", suite, path("rogue-vendor")});
    for (const char* chip : {"chipA", "chipB"}) make_chip("vendor", chip);
    make_chip("rogue-vendor", "rogue");
    run_ok({"provider", "init", "--suite", suite, path("provider")});
  }
  void make_chip(const std::string& vendor, const std::string& chip) {
    run_ok({"chip", "new", "--vendor", path(vendor), path(chip)});
    run_ok({"chip", "export", path(chip), "--out", path(chip + ".pem")});
  }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }
  [[nodiscard]] const fs::path& dir() const { return dir_.path(); }
  [[nodiscard]] const std::string& suite() const { return suite_; }
  static void run_ok(const std::vector<std::string>& args) {
    const auto r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << args.front() << ": " << r.err;
  }

 private:
  test::TempDir dir_;
  std::string suite_;
};

std::vector<std::string> pack_args(const Identities& id, const std::string& in,
                                   const std::string& out) {
  return {"pack",
          "--in",
          in,
          "--out",
          out,
          "--provider",
          id.path("provider"),
          "--vendor-root",
          id.path("vendor") + "/root.pem",
          "--chip-chain",
          id.path("chipA.pem"),
          "--chip-chain",
          id.path("chipB.pem")};
}

// Files other than `keep` in `dir` (a failed pack must leave no temporary behind).
std::vector<std::string> stray_files(const fs::path& dir, const std::vector<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (std::find(keep.begin(), keep.end(), name) == keep.end()) out.push_back(name);
  }
  return out;
}

struct PackCase {
  std::string suite;
  std::uint32_t sector_size;
  bool integrity = false;  // pack --integrity: sector tags after the data
};

void PrintTo(const PackCase& c, std::ostream* os) {
  *os << c.suite << "/" << c.sector_size << (c.integrity ? "/integrity" : "");
}

std::string case_name(const ::testing::TestParamInfo<PackCase>& info) {
  return info.param.suite + "_" + std::to_string(info.param.sector_size) +
         (info.param.integrity ? "_integrity" : "");
}

class PackedImage : public ::testing::TestWithParam<PackCase> {};

// scripts/verify_image_tags.py with `args` (docs/formats.md, "Sector tags and the hash tree").
test::CommandResult verify_tags(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "python3", std::string(CVMSIM_SOURCE_DIR) + "/scripts/verify_image_tags.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

// The shell snippet that follows `<!-- MARKER -->` in docs/formats.md.
std::string documented_snippet(const std::string& marker) {
  return test::documented_snippet(std::string(CVMSIM_SOURCE_DIR) + "/docs/formats.md", marker);
}

TEST_P(PackedImage, CryptsetupReadsItTheChipRecoversTheKeyAndTheDataDecryptsToTheInput) {
  const PackCase c = GetParam();
  const Identities id(c.suite);
  const crypto::SuiteId suite = crypto::parse_suite(c.suite);
  const Bytes raw = raw_disk((3 << 20) + 1234);  // not a whole number of sectors
  write_file_atomic(id.dir() / "raw.img", raw);
  const std::string image_path = id.path("image.luks");
  auto args = pack_args(id, id.path("raw.img"), image_path);
  args.insert(args.end(), {"--sector-size", std::to_string(c.sector_size), "-o", "json"});
  if (c.integrity) args.push_back("--integrity");
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << "progress is only for terminals: " << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["suite"], c.suite);
  EXPECT_EQ(summary["chips"].size(), 2u);
  EXPECT_EQ(summary["chains_verified"], true);

  // cryptsetup understands the container, an authenticated one too: the data segment's
  // explicit size keeps the tag area after it out of the volume, and the tag area's token
  // is shown like any other (docs/formats.md, "Encrypted image (LUKS2)").
  const auto dump = run_command({"cryptsetup", "luksDump", image_path});
  ASSERT_EQ(dump.exit_code, 0) << dump.out << dump.err;
  const std::string cipher = suite == crypto::SuiteId::sm ? "sm4-xts-plain64" : "aes-xts-plain64";
  EXPECT_NE(dump.out.find(cipher), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("cvmsim-image-cert"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find(summary["uuid"].get<std::string>()), std::string::npos) << dump.out;
  EXPECT_EQ(dump.out.find("cvmsim-sector-tags") != std::string::npos, c.integrity) << dump.out;

  // The PSP's view: chip A's token, its certificate, the key through chip A's fuses.
  const Luks2Header header = read_luks2_header_file(image_path);
  const psp::ChipFuses fuses_a = psp::load_chip_fuses(id.path("chipA"));
  const auto certs = certificates_for_chip(header, fuses_a.identity.chip_id);
  ASSERT_EQ(certs.size(), 1u);
  const ImageCertificate cert = ImageCertificate::decode(certs[0], "token");
  EXPECT_TRUE(cert.signature_valid());
  EXPECT_EQ(cert.image_uuid, header.uuid);
  EXPECT_EQ(cert.sector_size, c.sector_size);
  EXPECT_EQ(cert.data_length % c.sector_size, 0u);
  EXPECT_GE(cert.data_length, raw.size());
  EXPECT_LT(cert.data_length, raw.size() + c.sector_size);
  EXPECT_EQ(cert.data_offset, header.segment_offset);
  ASSERT_EQ(cert.integrity.has_value(), c.integrity);
  // The segment's size is explicit (not "dynamic"), so the tag area is not part of it.
  EXPECT_EQ(header.metadata["segments"]["0"]["size"], std::to_string(cert.data_length));
  EXPECT_EQ(cert.provider_key,
            pki::load_provider(id.path("provider")).certificate.public_key().public_der());
  const crypto::Suite& s = crypto::suite(suite);
  const Bytes key = s.unwrap(fuses_a.wrapping_key, cert.wrapped_key, image_key_context(cert));
  ASSERT_EQ(key.size(), s.xts_key_size());
  // Chip B cannot use chip A's certificate.
  const psp::ChipFuses fuses_b = psp::load_chip_fuses(id.path("chipB"));
  EXPECT_THROW((void)s.unwrap(fuses_b.wrapping_key, cert.wrapped_key, image_key_context(cert)),
               crypto::CryptoError);
  EXPECT_EQ(certificates_for_chip(header, fuses_b.identity.chip_id).size(), 1u);

  // An independent XTS implementation decrypts the data segment back to the input.
  const Bytes image = read_file(image_path, 64 << 20);
  // An authenticated image ends with its tags (16 bytes a sector from the next 4 KiB
  // boundary), the file rounded up to 4 KiB.
  const std::uint64_t data_end = cert.data_offset + cert.data_length;
  if (c.integrity) {
    EXPECT_EQ(cert.integrity->tag_offset, (data_end + 4095) / 4096 * 4096);
    ASSERT_EQ(image.size(), (cert.integrity->tag_offset + cert.tag_bytes() + 4095) / 4096 * 4096);
  } else {
    ASSERT_EQ(image.size(), data_end);
  }
  const ByteView segment = ByteView(image).subspan(cert.data_offset, cert.data_length);
  const Bytes plain = suite == crypto::SuiteId::sm
                          ? test::reference_decrypt_sm4_xts(key, 0, c.sector_size, segment)
                          : test::reference_decrypt_aes_xts(key, 0, c.sector_size, segment);
  ASSERT_TRUE(std::equal(raw.begin(), raw.end(), plain.begin())) << "decrypted data differs";
  EXPECT_TRUE(std::all_of(plain.begin() + static_cast<std::ptrdiff_t>(raw.size()), plain.end(),
                          [](std::uint8_t b) { return b == 0; }));
  // ...and the ciphertext is not the plaintext.
  EXPECT_FALSE(std::equal(raw.begin(), raw.begin() + 4096, segment.begin()));

  // cryptsetup accepts the recovered key as the volume key (it checks the LUKS2 digest,
  // exactly what dm-crypt activation would need) and refuses any other key.
  write_text_file_atomic(id.dir() / "pass", "correct horse battery staple");
  Bytes wrong = key;
  wrong[5] ^= 1;
  write_file_atomic(id.dir() / "wrong.key", wrong, 0600);
  const std::vector<std::string> add = {"cryptsetup", "luksAddKey", "--batch-mode",
                                        "--pbkdf",    "pbkdf2",     "--pbkdf-force-iterations",
                                        "1000",       "--key-size", std::to_string(key.size() * 8)};
  auto with = [&](const std::string& key_file) {
    auto argv = add;
    argv.insert(argv.end(), {"--volume-key-file", key_file, image_path, id.path("pass")});
    return run_command(argv);
  };
  const auto refused = with(id.path("wrong.key"));
  EXPECT_NE(refused.exit_code, 0) << "a wrong volume key was accepted";
  EXPECT_NE(refused.err.find("does not match"), std::string::npos) << refused.err;
  // The command docs/formats.md documents, as written, on a copy of the image.
  const fs::path documented = id.dir() / "documented";
  fs::create_directory(documented);
  fs::copy_file(image_path, documented / "disk.img");
  write_file_atomic(documented / "image.key", key, 0600);
  const std::string snippet = documented_snippet("luks-add-key");
  ASSERT_FALSE(snippet.empty()) << "docs/formats.md lost the luks-add-key snippet";
  const auto ran =
      run_command({"bash", "-c", "set -e\ncd '" + documented.string() + "'\n" + snippet});
  EXPECT_EQ(ran.exit_code, 0) << snippet << ran.out << ran.err;
  // Without --key-size cryptsetup does not take the key (why the docs give it).
  if (c.sector_size == 4096) {
    fs::copy_file(image_path, documented / "plain.img");
    const auto bare = run_command({"cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2",
                                   "--pbkdf-force-iterations", "1000", "--volume-key-file",
                                   (documented / "image.key").string(),
                                   (documented / "plain.img").string(), id.path("pass")});
    if (key.size() * 8 != 512) {
      EXPECT_NE(bare.exit_code, 0) << bare.out << bare.err;
    }
  }

  write_file_atomic(id.dir() / "image.key", key, 0600);
  const auto added = with(id.path("image.key"));
  EXPECT_EQ(added.exit_code, 0) << added.out << added.err;
  const auto dump2 = run_command({"cryptsetup", "luksDump", image_path});
  EXPECT_NE(dump2.out.find("0: luks2"), std::string::npos) << dump2.out;
  EXPECT_NE(dump2.out.find("cvmsim-image-cert"), std::string::npos) << dump2.out;
  EXPECT_EQ(dump2.out.find("cvmsim-sector-tags") != std::string::npos, c.integrity) << dump2.out;
  if (c.integrity) {
    // cryptsetup rewrote the headers and kept the token; the tags after the segment are
    // untouched.
    const auto tags = verify_tags({image_path, id.path("image.key")});
    EXPECT_EQ(tags.exit_code, 0) << tags.out << tags.err;
  }
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, PackedImage,
                         ::testing::Values(PackCase{"sm", 4096}, PackCase{"sm", 512},
                                           PackCase{"nist", 4096}, PackCase{"nist", 512},
                                           PackCase{"sm", 512, true}, PackCase{"nist", 4096, true}),
                         case_name);

// An image packed with --integrity from `raw_size` bytes into `name`, its certificate for
// chip A and the image key chip A's fuses recover (as the PSP would), in `name`.key.
struct AuthenticatedPack {
  std::string path;
  std::string key_path;
  std::string root;  // as `pack -o json` reports it
  ImageCertificate cert;
  Bytes key;
};

AuthenticatedPack pack_authenticated(const Identities& id, const std::string& name,
                                     std::size_t raw_size, std::uint32_t sector_size) {
  AuthenticatedPack p;
  p.path = id.path(name);
  p.key_path = id.path(name + ".key");
  write_file_atomic(id.dir() / (name + ".raw"), raw_disk(raw_size));
  auto args = pack_args(id, id.path(name + ".raw"), p.path);
  args.insert(args.end(),
              {"--sector-size", std::to_string(sector_size), "--integrity", "-o", "json"});
  const auto packed = run_cli(args);
  if (packed.exit_code != 0) throw std::runtime_error("pack failed: " + packed.err);
  p.root = nlohmann::json::parse(packed.out)["integrity"]["tag_root"];
  const psp::ChipFuses fuses = psp::load_chip_fuses(id.path("chipA"));
  p.cert = ImageCertificate::decode(
      certificates_for_chip(read_luks2_header_file(p.path), fuses.identity.chip_id).at(0), "token");
  p.key = crypto::suite(p.cert.suite)
              .unwrap(fuses.wrapping_key, p.cert.wrapped_key, image_key_context(p.cert));
  write_file_atomic(p.key_path, p.key, 0600);
  return p;
}

// scripts/verify_image_tags.py, written from docs/formats.md alone, checks an authenticated
// image the C++ packer made: every tag and the root, with the key chip A's fuses recover.
class PackedImageTags : public ::testing::TestWithParam<PackCase> {};

TEST_P(PackedImageTags, TheIndependentScriptVerifiesTheTagsAndNamesAChangedSector) {
  const PackCase c = GetParam();
  const Identities id(c.suite);
  const crypto::SuiteId suite = crypto::parse_suite(c.suite);
  // An odd number of sectors (257 or 2051), so the tree has nodes without a sibling.
  const AuthenticatedPack packed =
      pack_authenticated(id, "image.luks", (1 << 20) + 1234, c.sector_size);
  const std::string& image_path = packed.path;
  const std::string& root = packed.root;
  const ImageCertificate& cert = packed.cert;
  const Bytes& key = packed.key;
  ASSERT_TRUE(cert.integrity);
  EXPECT_EQ(to_hex(cert.integrity->root), root);
  const std::uint64_t sectors = cert.data_sectors();
  ASSERT_EQ(sectors % 2, 1u);
  const std::string ok_line =
      fmt::format("tags: {} sectors ok, root {} matches the certificate\n", sectors, root);

  auto r = verify_tags({image_path, packed.key_path});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, ok_line);
  r = verify_tags({image_path, packed.key_path, "--expect-root", root, "--chip",
                   to_hex(psp::load_chip_fuses(id.path("chipB")).identity.chip_id)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("matches the certificate and --expect-root"), std::string::npos) << r.out;
  r = verify_tags({image_path, packed.key_path, "--expect-root", std::string(64, '0')});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  if (c.suite == "sm" && c.sector_size == 4096) {
    // The fallback for a Python whose OpenSSL has no SM3 (one openssl process per hash, so
    // on five sectors): the same answer as hashlib's.
    const AuthenticatedPack small = pack_authenticated(id, "small.luks", 5 * 4096 - 100, 4096);
    const std::string small_ok =
        fmt::format("tags: 5 sectors ok, root {} matches the certificate\n", small.root);
    r = verify_tags({small.path, small.key_path});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, small_ok);
    r = verify_tags({"--openssl-command", small.path, small.key_path});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, small_ok);
  }
  // The command docs/formats.md documents, as written.
  {
    const fs::path documented = id.dir() / "documented";
    fs::create_directory(documented);
    fs::copy_file(image_path, documented / "disk.img");
    fs::copy_file(packed.key_path, documented / "image.key");
    const std::string snippet = documented_snippet("verify-image-tags");
    ASSERT_FALSE(snippet.empty()) << "docs/formats.md lost the verify-image-tags snippet";
    // Run as from the source tree, with the image and key there.
    fs::create_directory_symlink(fs::path(CVMSIM_SOURCE_DIR) / "scripts", documented / "scripts");
    const auto ran =
        run_command({"bash", "-c", "set -e\ncd '" + documented.string() + "'\n" + snippet});
    EXPECT_EQ(ran.exit_code, 0) << snippet << ran.out << ran.err;
    EXPECT_EQ(ran.out, ok_line) << snippet << ran.err;
  }

  const Bytes image = read_file(image_path, 64 << 20);
  const auto data_at = [&](std::uint64_t sector) {
    return static_cast<std::ptrdiff_t>(cert.data_offset + sector * c.sector_size);
  };
  const auto tag_at = [&](std::uint64_t sector) {
    return static_cast<std::ptrdiff_t>(cert.integrity->tag_offset +
                                       sector * crypto::kSectorTagSize);
  };
  const auto check_copy = [&](const Bytes& changed) {
    write_file_atomic(id.dir() / "changed.luks", changed);
    return verify_tags({id.path("changed.luks"), packed.key_path});
  };
  const auto names_sector = [](const test::CommandResult& result, std::uint64_t sector) {
    return result.exit_code == 1 &&
           result.out.find(fmt::format("tags: sector {} does not match its tag", sector)) !=
               std::string::npos;
  };
  // One flipped bit of ciphertext, one of a tag: the script names that sector.
  const std::uint64_t flipped = sectors / 2 + 1;
  Bytes changed = image;
  changed[static_cast<std::size_t>(data_at(flipped)) + 17] ^= 0x01;
  r = check_copy(changed);
  EXPECT_TRUE(names_sector(r, flipped)) << r.exit_code << r.out << r.err;
  changed = image;
  changed[static_cast<std::size_t>(tag_at(sectors - 1)) + crypto::kSectorTagSize - 1] ^= 0x80;
  r = check_copy(changed);
  EXPECT_TRUE(names_sector(r, sectors - 1)) << r.exit_code << r.out << r.err;
  // Two sectors swapped with their tags: each tag covers its sector number.
  changed = image;
  std::swap_ranges(changed.begin() + data_at(1), changed.begin() + data_at(2),
                   changed.begin() + data_at(2));
  std::swap_ranges(changed.begin() + tag_at(1), changed.begin() + tag_at(2),
                   changed.begin() + tag_at(2));
  r = check_copy(changed);
  EXPECT_TRUE(names_sector(r, 1)) << r.exit_code << r.out << r.err;
  // A sector changed and re-tagged with the key (as a VM's write does): every tag verifies,
  // the root is no longer the certificate's but the one the C++ tree computes.
  changed = image;
  changed[static_cast<std::size_t>(data_at(flipped))] ^= 0xff;
  crypto::SectorTagger tagger(suite, key);
  tagger.tag_units(
      flipped, c.sector_size,
      ByteView(changed).subspan(static_cast<std::size_t>(data_at(flipped)), c.sector_size),
      MutableByteView(changed).subspan(static_cast<std::size_t>(tag_at(flipped)),
                                       crypto::kSectorTagSize));
  const std::string new_root = to_hex(
      crypto::tag_tree_root(suite, ByteView(changed).subspan(static_cast<std::size_t>(tag_at(0)),
                                                             sectors * crypto::kSectorTagSize)));
  ASSERT_NE(new_root, root);
  r = check_copy(changed);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("sectors ok, but root {} is not the certificate's", new_root)),
            std::string::npos)
      << r.out;
  r = verify_tags({id.path("changed.luks"), packed.key_path, "--expect-root", new_root});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("root " + new_root + " matches --expect-root"), std::string::npos) << r.out;

  // Another key of the right size: no tag verifies. A key of the wrong size, a file that is
  // no LUKS2 image, an image without tags: bad input (exit code 2), refused before any tag.
  Bytes other_key = key;
  other_key[0] ^= 1;
  write_file_atomic(id.dir() / "other.key", other_key, 0600);
  r = verify_tags({image_path, id.path("other.key")});
  EXPECT_TRUE(names_sector(r, 0)) << r.exit_code << r.out << r.err;
  write_file_atomic(id.dir() / "short.key", ByteView(key).first(16), 0600);
  r = verify_tags({image_path, id.path("short.key")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  r = verify_tags({id.path("image.luks.raw"), packed.key_path});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("not a LUKS2 image"), std::string::npos) << r.err;
  if (c.sector_size == 4096) {
    const std::string plain_path = id.path("plain.luks");
    ASSERT_EQ(run_cli(pack_args(id, id.path("image.luks.raw"), plain_path)).exit_code, 0);
    r = verify_tags({plain_path, packed.key_path});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("certificate version 1"), std::string::npos) << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, PackedImageTags,
                         ::testing::Values(PackCase{"sm", 4096, true}, PackCase{"sm", 512, true},
                                           PackCase{"nist", 4096, true},
                                           PackCase{"nist", 512, true}),
                         case_name);

TEST(PackCli, InspectExplainsTheImageAndARawCertificate) {
  const Identities id("sm");
  write_file_atomic(id.dir() / "raw.img", raw_disk(100000));
  auto args = pack_args(id, id.path("raw.img"), id.path("image.luks"));
  const std::string digest(64, 'a');
  args.insert(args.end(), {"--allow-measurement", digest});
  ASSERT_EQ(run_cli(args).exit_code, 0);
  auto r = run_cli({"inspect", id.path("image.luks"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["artifact"], "encrypted VM image");
  EXPECT_NE(doc["segment"]["note"].get<std::string>().find("unauthenticated"), std::string::npos);
  EXPECT_EQ(doc["segment"]["encryption"], "sm4-xts-plain64");
  ASSERT_EQ(doc["tokens"].size(), 2u);
  const auto& cert = doc["tokens"][0]["certificate"];
  EXPECT_EQ(cert["signature_valid"], true);
  EXPECT_EQ(cert["cipher"], "sm4-xts-plain64");
  EXPECT_EQ(cert["allowed_measurements"], nlohmann::json::array({digest}));
  EXPECT_EQ(cert["image_uuid"], doc["uuid"]);

  // A raw certificate file is recognised too.
  const Luks2Header header = read_luks2_header_file(id.path("image.luks"));
  const auto chip = psp::load_chip_fuses(id.path("chipB")).identity.chip_id;
  write_file_atomic(id.dir() / "cert.bin", certificates_for_chip(header, chip).at(0));
  r = run_cli({"inspect", id.path("cert.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("image certificate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(to_hex(chip)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("signature_valid: true"), std::string::npos) << r.out;
}

TEST(PackCli, FailedPacksLeaveNoOutputAndKeepAnExistingOne) {
  const Identities id("nist");
  write_file_atomic(id.dir() / "raw.img", raw_disk(50000));
  write_text_file_atomic(id.dir() / "existing.luks", "previous image");
  const std::vector<std::string> before = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(id.dir())) names.push_back(e.path().filename());
    return names;
  }();

  // A chip of another vendor: refused with the chain exit code, for a new and an old output.
  for (const char* out : {"new.luks", "existing.luks"}) {
    auto args = pack_args(id, id.path("raw.img"), id.path(out));
    args.insert(args.end(), {"--chip-chain", id.path("rogue.pem"), "--force"});
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("pki/bad_chain"), std::string::npos) << r.err;
  }
  // An input that is missing or a directory: a usage error naming it, as in every command
  // (docs/cli.md, "Files on the command line").
  for (const std::string& in : {id.path("missing.img"), id.path("vendor")}) {
    const auto r = run_cli(pack_args(id, in, id.path("existing.luks")));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(in), std::string::npos) << r.err;
  }
  // Empty input, a provider of the other suite, a measurement of the wrong size.
  write_file_atomic(id.dir() / "empty.img", Bytes{});
  EXPECT_EQ(run_cli(pack_args(id, id.path("empty.img"), id.path("new.luks"))).exit_code, 1);
  {
    auto args = pack_args(id, id.path("raw.img"), id.path("new.luks"));
    args.insert(args.end(), {"--allow-measurement", std::string(64, 'a')});  // 32 bytes, not 48
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("48"), std::string::npos) << r.err;
    args = pack_args(id, id.path("raw.img"), id.path("new.luks"));
    args.insert(args.end(), {"--suite", "sm"});
    EXPECT_EQ(run_cli(args).exit_code, 1);
  }
  EXPECT_EQ(read_text_file(id.dir() / "existing.luks"), "previous image");
  EXPECT_FALSE(fs::exists(id.dir() / "new.luks"));
  EXPECT_EQ(stray_files(id.dir(), before), std::vector<std::string>{"empty.img"});
}

TEST(PackCli, AnExistingOutputIsReplacedOnlyWithForceAndAnInputNever) {
  const Identities id("sm");
  write_file_atomic(id.dir() / "raw.img", raw_disk(9000));
  write_text_file_atomic(id.dir() / "existing.luks", "previous image");
  auto r = run_cli(pack_args(id, id.path("raw.img"), id.path("existing.luks")));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cvmsim: error [image/already_exists]: --out " + id.path("existing.luks") +
                       " exists; pass --force"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(read_text_file(id.dir() / "existing.luks"), "previous image");
  // A dangling symlink is something there too.
  fs::create_symlink(id.dir() / "nowhere", id.dir() / "link.luks");
  EXPECT_EQ(run_cli(pack_args(id, id.path("raw.img"), id.path("link.luks"))).exit_code, 1);

  auto forced = pack_args(id, id.path("raw.img"), id.path("existing.luks"));
  forced.push_back("--force");
  r = run_cli(forced);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_text_file(id.dir() / "existing.luks"), "previous image");

  // The input itself (by its name, a hard link or a symlink): refused even with --force,
  // and the plaintext is kept.
  const Bytes plaintext = read_file(id.dir() / "raw.img");
  fs::create_hard_link(id.dir() / "raw.img", id.dir() / "hard.img");
  fs::create_symlink(id.dir() / "raw.img", id.dir() / "soft.img");
  for (const char* out : {"raw.img", "hard.img", "soft.img"}) {
    auto args = pack_args(id, id.path("raw.img"), id.path(out));
    args.push_back("--force");
    r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << out << r.err;
    EXPECT_NE(r.err.find("an output never replaces an input"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(id.dir() / "raw.img"), plaintext) << out;
  }
}

// Progress goes to a terminal only: once at 100%, with a rate and the time taken; a pipe
// gets none of it.
TEST(PackCli, ProgressOnATerminalOnlyAndTheLastLineOnce) {
  const Identities id("sm");
  write_file_atomic(id.dir() / "raw.img", raw_disk(24u << 20));
  auto args = pack_args(id, id.path("raw.img"), id.path("piped.luks"));
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("packing"), std::string::npos) << r.err;

  // The same under a pseudo-terminal (script(1) gives the command one).
  args = pack_args(id, id.path("raw.img"), id.path("tty.luks"));
  std::string command = "'" + std::string(CVMSIM_CLI_PATH) + "'";
  for (const auto& a : args) command += " '" + a + "'";
  r = test::run_command({"script", "-qefc", command, "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::size_t complete = 0;
  for (auto at = r.out.find("100%"); at != std::string::npos; at = r.out.find("100%", at + 1)) {
    ++complete;
  }
  EXPECT_EQ(complete, 1u) << r.out;
  EXPECT_NE(r.out.find("packing ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("24.0 MiB of 24.0 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MiB/s, in "), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(id.dir() / "tty.luks"));
}

TEST(PackCli, VerificationNeedsARootAndNoVerifyWarnsLoudly) {
  const Identities id("sm");
  write_file_atomic(id.dir() / "raw.img", raw_disk(9000));
  auto r = run_cli({"pack", "--in", id.path("raw.img"), "--out", id.path("a.luks"), "--provider",
                    id.path("provider"), "--chip-chain", id.path("rogue.pem")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--vendor-root"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(id.dir() / "a.luks"));
  r = run_cli({"pack", "--in", id.path("raw.img"), "--out", id.path("a.luks"), "--provider",
               id.path("provider"), "--chip-chain", id.path("rogue.pem"), "--no-verify"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("WARNING"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(id.dir() / "a.luks"));
  // A vendor directory works as the root too.
  r = run_cli({"pack", "--in", id.path("raw.img"), "--out", id.path("b.luks"), "--provider",
               id.path("provider"), "--vendor-root", id.path("vendor"), "--chip-chain",
               id.path("chipA.pem")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(PackCli, ManyChipsGrowTheHeaderAndCryptsetupStillReadsIt) {
  Identities id("sm");
  auto args = pack_args(id, id.path("raw.img"), id.path("many.luks"));
  for (int i = 0; i < 22; ++i) {
    const std::string name = "extra" + std::to_string(i);
    id.make_chip("vendor", name);
    args.insert(args.end(), {"--chip-chain", id.path(name + ".pem")});
  }
  write_file_atomic(id.dir() / "raw.img", raw_disk(70000));
  args.insert(args.end(), {"-o", "json"});
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_GT(summary["header_size"].get<std::uint64_t>(), kLuks2MinHeaderSize);
  EXPECT_EQ(summary["chips"].size(), 24u);
  const auto dump = run_command({"cryptsetup", "luksDump", id.path("many.luks")});
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  const Luks2Header header = read_luks2_header_file(id.path("many.luks"));
  const auto chip = psp::load_chip_fuses(id.path("extra21"));
  const auto certs = certificates_for_chip(header, chip.identity.chip_id);
  ASSERT_EQ(certs.size(), 1u);
  const ImageCertificate cert = ImageCertificate::decode(certs[0], "token");
  EXPECT_EQ(crypto::suite(crypto::SuiteId::sm)
                .unwrap(chip.wrapping_key, cert.wrapped_key, image_key_context(cert))
                .size(),
            32u);
}

}  // namespace
}  // namespace cvmsim::image
