// The PSP's non-volatile storage (docs/formats.md "PSP non-volatile storage"): per
// authenticated image, the root of the hash tree over its sector tags and a monotonic
// version, so that a host that puts back an older image (data and tags together) is
// refused at the next boot.
//
// The storage is a file in the chip directory (CHIPDIR/psp-nv/storage.bin), which the
// host can read, copy and replace, as it could the flash chip beside a real PSP. Two
// things keep it honest:
//  - it is sealed: an HMAC under a key derived from the chip's fused secret covers every
//    byte, so the host can neither forge nor edit a record;
//  - it is versioned against a monotonic counter (CHIPDIR/psp-nv/counter.bin, sealed the
//    same way). The counter models the PSP's replay-protected counter (as an eMMC RPMB's
//    write counter): the threat model lets the host replace storage.bin, not roll the
//    counter back. A storage file older than the counter is refused.
//
// Crash consistency: a store writes storage.bin (write a temporary file, fsync, rename)
// and then counter.bin. A crash between the two leaves the storage one ahead of the
// counter, which load() accepts (and repairs); a crash before the rename leaves both as
// they were. A storage more than one ahead of the counter cannot come from a crash (the
// counter went back, or counter.bin was deleted after the first store) and is refused as
// rolled_back.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "crypto/key.h"
#include "crypto/suite_id.h"

namespace cvmsim::psp {

// A write of sectors [first_sector, first_sector + count) that the PSP has announced but
// not yet committed: the tags before and after it (count × 32 bytes each) and the root
// the disk will have once it is done. The next boot settles it (psp_image.cc).
struct PendingDiskWrite {
  std::uint64_t first_sector = 0;
  Bytes old_tags;
  Bytes new_tags;
  Bytes new_root;  // 32 bytes
  bool operator==(const PendingDiskWrite&) const = default;
};

struct DiskRecord {
  std::array<std::uint8_t, 16> image_uuid{};
  Bytes root;  // 32 bytes: the committed root
  std::uint64_t version = 0;
  std::optional<PendingDiskWrite> pending;
  bool operator==(const DiskRecord&) const = default;
};

// Why the storage could not be used. Named: the PSP turns each into a status detail.
enum class NvFault : std::uint8_t {
  none,
  unreadable,    // a file exists but cannot be read (OS error), or is not a regular file
  bad_seal,      // a file's MAC does not verify: edited, forged, or from another chip
  malformed,     // sealed correctly but its contents do not decode (never for our writes);
                 // from store(): the record does not fit the format (root or tags sizes)
  rolled_back,   // storage.bin is older than the counter, or missing while the counter is not
                 // zero, or more than one ahead of it (the counter went back)
  write_failed,  // the new storage could not be written (the old one stays in place)
  full,          // more records than kMaxNvRecords
};
std::string_view to_string(NvFault fault);

inline constexpr std::size_t kMaxNvRecords = 1024;

// Which file a path named when last seen (nv_storage.cc); none: there was no file.
using NvFileStamp = std::optional<std::array<std::int64_t, 7>>;

class NvStorage {
 public:
  // `dir` is CHIPDIR/psp-nv (created on the first store), `seal_key` the chip's derived
  // sealing key (32 bytes; see derive_nv_seal_key), `suite` picks the MAC (HMAC-SM3 or
  // HMAC-SHA-256). Reads nothing yet.
  NvStorage(std::filesystem::path dir, crypto::SuiteId suite, Bytes seal_key);

  // Loads and checks both files (once; later calls return the loaded state's verdict).
  // No files at all: an empty storage with counter 0; no counter.bin: counter 0. A storage
  // one ahead of the counter is accepted and the counter rewritten. Several processes may
  // run the same chip: reads and stores hold an exclusive flock on `dir`. Never throws.
  NvFault load();
  // The record for an image, after a successful load(); null when there is none (or the
  // load failed). The pointer is valid until the next store().
  [[nodiscard]] const DiskRecord* find(const std::array<std::uint8_t, 16>& image_uuid) const;
  // Inserts or replaces the image's record and persists the whole storage with the next
  // sequence number, then the counter. Requires a successful load() (calls it if not yet
  // called, and returns its fault). Reads the files again first, under the lock, so that
  // records another process stored meanwhile are kept; files older than this process last
  // saw are rolled_back (and stay refused). On any other fault both files are as they were
  // and the state in memory is theirs. Once storage.bin is in place the store has happened and
  // returns none even if counter.bin could not be written: the storage is then one ahead of the
  // counter, which load() accepts, and the next store() brings the counter level first. A record
  // whose root is not 32 bytes, or whose pending write has more than 2048 sectors, tags
  // that are not 16 bytes per sector, a new root that is not 32 bytes or a sector range
  // that passes 2^64, is refused as malformed. Never throws.
  NvFault store(const DiskRecord& record);

  [[nodiscard]] std::uint64_t sequence() const noexcept { return sequence_; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  crypto::SuiteId suite_;
  Bytes seal_key_;
  NvFault read_files();  // into the members below when the files verify; never throws
  void forget();         // empties the members below

  std::optional<NvFault> loaded_;  // the verdict of the first load() (or of a refused store)
  NvFileStamp storage_stamp_;      // storage.bin as this process last read or wrote it
  std::uint64_t sequence_ = 0;     // of the storage in memory (= the counter once stored)
  std::uint64_t counter_ = 0;      // what counter.bin holds: sequence_ or sequence_ - 1
  std::vector<DiskRecord> records_;
};

// The sealing key: HMAC-M(key = the PEM text of the chip's key-wrapping private key
// (PKCS#8, as the fuse file holds it), message = "cvmsim-psp-nv-seal-v1"), where M is the
// suite's MAC hash (SM3 for sm, SHA-256 for nist; the sector tags use the same). Only the
// PSP holds the fuses it comes from. Throws CryptoError{bad_key} for a public key.
Bytes derive_nv_seal_key(const crypto::Key& wrapping_private_key);

}  // namespace cvmsim::psp
