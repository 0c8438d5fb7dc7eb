// Shared by the tests of the PSP's non-volatile storage (nv_storage_*_test.cc): files
// built the way docs/formats.md ("PSP non-volatile storage") describes them, sealed with an
// HMAC of their own, and a fixture over one chip's psp-nv directory.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <random>
#include <string>

#include "common/file_io.h"
#include "crypto/suite.h"
#include "psp/nv_storage.h"
#include "support/documented_snippet.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim::psp::nv_test {

namespace fs = std::filesystem;
using crypto::SuiteId;
using Uuid = std::array<std::uint8_t, 16>;

// HMAC-SM3 or HMAC-SHA-256 with OpenSSL's one-shot call: not the code under test.
inline Bytes reference_hmac(SuiteId suite, ByteView key, ByteView data) {
  Bytes out(32);
  std::size_t length = 0;
  const std::uint8_t* result =
      EVP_Q_mac(nullptr, "HMAC", nullptr, suite == SuiteId::sm ? "SM3" : "SHA256", nullptr,
                key.data(), key.size(), data.data(), data.size(), out.data(), out.size(), &length);
  EXPECT_NE(result, nullptr);
  EXPECT_EQ(length, 32u);
  return out;
}

inline std::uint64_t le(ByteView bytes, std::size_t offset, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    v |= std::uint64_t{bytes[offset + i]} << (8 * i);
  }
  return v;
}

inline void put_le(Bytes& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

inline Bytes filled(std::size_t size, std::uint8_t seed) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return out;
}

inline Uuid uuid_of(std::uint8_t n) {
  Uuid id{};
  id.fill(0x5a);
  id[0] = n;
  id[15] = static_cast<std::uint8_t>(n ^ 0xff);
  return id;
}

inline DiskRecord record(std::uint8_t n, std::uint64_t version, std::uint32_t pending_sectors = 0) {
  DiskRecord r;
  r.image_uuid = uuid_of(n);
  r.root = filled(32, n);
  r.version = version;
  if (pending_sectors > 0) {
    r.pending = PendingDiskWrite{.first_sector = 1000u + n,
                                 .old_tags = filled(16 * pending_sectors, 1),
                                 .new_tags = filled(16 * pending_sectors, 2),
                                 .new_root = filled(32, 3)};
  }
  return r;
}

// Builds a storage.bin the way docs/formats.md describes it, sealed with `key`: for
// contents the PSP never writes (limits, order, flags) and for the record limit.
class StorageImage {
 public:
  StorageImage(SuiteId suite, std::uint64_t sequence, std::uint32_t count) {
    body_ = as_bytes_vec("CVMSNVS1");
    put_le(body_, 1, 2);
    body_.push_back(static_cast<std::uint8_t>(suite));
    body_.push_back(0);
    put_le(body_, count, 4);
    put_le(body_, sequence, 8);
  }
  void add(const Uuid& id, std::uint64_t version, std::uint8_t flags = 0) {
    append(body_, id);
    append(body_, filled(32, id[0]));
    put_le(body_, version, 8);
    body_.push_back(flags);
    body_.insert(body_.end(), 7, 0);
  }
  void pending(std::uint64_t first, std::uint32_t count) {
    put_le(body_, first, 8);
    put_le(body_, count, 4);
    put_le(body_, 0, 4);
    append(body_, filled(32ull * count + 32, 9));  // 16-byte old and new tags, root
  }
  Bytes& body() { return body_; }
  [[nodiscard]] Bytes sealed(SuiteId suite, ByteView key) const {
    Bytes out = body_;
    append(out, reference_hmac(suite, key, body_));
    return out;
  }

 private:
  static Bytes as_bytes_vec(std::string_view s) { return to_bytes(as_bytes(s)); }
  Bytes body_;
};

inline Bytes sealed_counter(SuiteId suite, ByteView key, std::uint64_t counter) {
  Bytes body = to_bytes(as_bytes("CVMSNVC1"));
  put_le(body, 1, 2);
  body.push_back(static_cast<std::uint8_t>(suite));
  body.insert(body.end(), 5, 0);
  put_le(body, counter, 8);
  append(body, reference_hmac(suite, key, body));
  return body;
}

class NvStorageTest : public ::testing::TestWithParam<SuiteId> {
 protected:
  NvStorageTest()
      : chip_key_(crypto::suite(GetParam()).generate_key()),
        seal_key_(derive_nv_seal_key(chip_key_)),
        dir_(tmp_ / "chip" / "psp-nv") {
    fs::create_directory(tmp_ / "chip");
  }

  [[nodiscard]] SuiteId suite() const { return GetParam(); }
  [[nodiscard]] NvStorage open() const { return NvStorage(dir_, suite(), seal_key_); }
  // A fresh NvStorage over the files, loaded.
  [[nodiscard]] NvFault reopen() const {
    NvStorage nv = open();
    return nv.load();
  }
  [[nodiscard]] fs::path storage() const { return dir_ / "storage.bin"; }
  [[nodiscard]] fs::path counter() const { return dir_ / "counter.bin"; }
  [[nodiscard]] Bytes read(const fs::path& p) const { return read_file(p); }
  // The host's edits: written in place, without the fsync of the PSP's writes, and without
  // truncating to zero first (which makes ext4 flush the file on close: slow in a loop).
  static void write(const fs::path& p, ByteView bytes) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << p;
    const auto written = ::pwrite(fd, bytes.data(), bytes.size(), 0);
    const int truncated = ::ftruncate(fd, static_cast<off_t>(bytes.size()));
    ::close(fd);
    ASSERT_EQ(written, static_cast<ssize_t>(bytes.size())) << p;
    ASSERT_EQ(truncated, 0) << p;
  }

  crypto::Key chip_key_;
  Bytes seal_key_;
  test::TempDir tmp_;
  fs::path dir_;
};

// Test names end in the suite: ".../sm", ".../nist".
inline std::string suite_name(const ::testing::TestParamInfo<SuiteId>& info) {
  return std::string(crypto::to_string(info.param));
}

}  // namespace cvmsim::psp::nv_test
