#include "psp/nv_storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "common/binary.h"
#include "common/checked.h"
#include "common/common_error.h"
#include "common/file_io.h"
#include "crypto/sector_tags.h"

// Layouts (docs/formats.md, "PSP non-volatile storage"), all little-endian.
//
// storage.bin:
//   0   8  magic "CVMSNVS1"
//   8   2  format version = 1
//   10  1  suite
//   11  1  zero
//   12  4  record count N (0..kMaxNvRecords)
//   16  8  sequence
//   24  …  N records, image UUIDs strictly ascending (bytewise)
//   end 32 MAC over every byte before it
// record:
//   0   16 image UUID
//   16  32 committed root
//   48  8  version
//   56  1  flags: bit 0 = a pending write follows; other bits zero
//   57  7  zero
//   64  …  when pending: first sector u64, sector count C u32 (0..2048), zero u32,
//          old tags (16·C), new tags (16·C), new root (32)
//
// counter.bin (56 bytes):
//   0   8  magic "CVMSNVC1"
//   8   2  format version = 1
//   10  1  suite
//   11  5  zero
//   16  8  counter
//   24  32 MAC over bytes [0, 24)

namespace cvmsim::psp {
namespace {

constexpr std::string_view kNvStorageMagic = "CVMSNVS1";
constexpr std::string_view kNvCounterMagic = "CVMSNVC1";
constexpr std::uint16_t kNvFormatVersion = 1;
constexpr std::string_view kNvStorageFile = "storage.bin";
constexpr std::string_view kNvCounterFile = "counter.bin";
constexpr std::string_view kNvSealLabel = "cvmsim-psp-nv-seal-v1";

constexpr std::size_t kNvMacSize = crypto::kSuiteHmacSize;  // HMAC-SM3 and HMAC-SHA-256 alike
constexpr std::size_t kNvRootSize = crypto::kTagRootSize;
constexpr std::size_t kNvTagSize = crypto::kSectorTagSize;
// The most sectors one pending write covers: one 1 MiB DMA transfer of 512-byte sectors.
constexpr std::uint32_t kNvMaxPendingSectors = 2048;

constexpr std::size_t kNvStorageHeaderSize = 24;
constexpr std::size_t kNvRecordHeadSize = 64;
constexpr std::size_t kNvPendingHeadSize = 16;
constexpr std::size_t kNvCounterBodySize = 24;
constexpr std::size_t kNvCounterFileSize = kNvCounterBodySize + kNvMacSize;
constexpr std::size_t kNvMaxRecordSize =
    kNvRecordHeadSize + kNvPendingHeadSize + 2 * kNvTagSize * kNvMaxPendingSectors + kNvRootSize;
// No storage.bin that the PSP writes is larger (about 128 MiB); a larger file is not ours.
constexpr std::uint64_t kNvMaxStorageFileSize =
    kNvStorageHeaderSize + kMaxNvRecords * kNvMaxRecordSize + kNvMacSize;

constexpr std::uint8_t kNvFlagPending = 0x01;

// store() moves a record into reserved capacity after storage.bin is in place, which
// must not fail.
static_assert(std::is_nothrow_move_constructible_v<DiskRecord> &&
              std::is_nothrow_move_assignable_v<DiskRecord>);

// The unreadable / bad-seal / malformed verdicts travel as this exception inside the
// loader and never leave this file.
struct NvLoadFailure {
  NvFault fault;
};

// Appends the MAC of everything in `body` to it.
Bytes nv_seal(crypto::SuiteId suite, ByteView key, Bytes body) {
  const Bytes mac = crypto::suite_hmac(suite, key, body);
  append(body, mac);
  return body;
}

// Checks the trailing MAC of a whole file; returns the bytes it covers.
ByteView nv_unseal(crypto::SuiteId suite, ByteView key, ByteView file) {
  if (file.size() < kNvMacSize) throw NvLoadFailure{NvFault::bad_seal};
  const ByteView body = file.first(file.size() - kNvMacSize);
  const Bytes expected = crypto::suite_hmac(suite, key, body);
  if (!equal_constant_time(expected, file.last(kNvMacSize))) {
    throw NvLoadFailure{NvFault::bad_seal};
  }
  return body;
}

// The file's bytes, or nullopt when it does not exist. Throws NvLoadFailure.
std::optional<Bytes> nv_read_optional(const std::filesystem::path& path, std::uint64_t limit) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) return std::nullopt;
  if (ec) throw NvLoadFailure{NvFault::unreadable};
  try {
    return read_file(path, limit);
  } catch (const CommonError& error) {
    // Larger than any file the PSP writes: it cannot carry our seal.
    if (error.code() == CommonErrc::too_large) throw NvLoadFailure{NvFault::bad_seal};
    throw NvLoadFailure{NvFault::unreadable};
  } catch (const std::exception&) {
    throw NvLoadFailure{NvFault::unreadable};
  }
}

void nv_check_header(ByteReader& in, std::string_view magic, crypto::SuiteId suite) {
  const std::size_t at = in.offset();
  if (!std::ranges::equal(in.bytes("magic", magic.size()), as_bytes(magic))) {
    in.fail_at("magic", at, "not the expected magic");
  }
  if (in.u16("format version") != kNvFormatVersion) {
    in.fail_at("format version", at + 8, "unsupported");
  }
  if (in.u8("suite") != static_cast<std::uint8_t>(suite)) {
    in.fail_at("suite", at + 10, "not this chip's suite");
  }
}

// Whether a record can be written in the layout above (and so read back).
bool nv_record_encodable(const DiskRecord& record) {
  if (record.root.size() != kNvRootSize) return false;
  if (!record.pending) return true;
  const PendingDiskWrite& pending = *record.pending;
  const std::size_t tags = pending.old_tags.size();
  if (tags % kNvTagSize != 0 || pending.new_tags.size() != tags ||
      tags / kNvTagSize > kNvMaxPendingSectors || pending.new_root.size() != kNvRootSize) {
    return false;
  }
  return add_checked<std::uint64_t>(pending.first_sector, tags / kNvTagSize).has_value();
}

void nv_encode_record(ByteWriter& out, const DiskRecord& record) {
  out.bytes(record.image_uuid);
  out.bytes(record.root);
  out.u64(record.version);
  out.u8(record.pending ? kNvFlagPending : 0);
  out.zeros(7);
  if (!record.pending) return;
  const PendingDiskWrite& pending = *record.pending;
  out.u64(pending.first_sector);
  out.u32(static_cast<std::uint32_t>(pending.old_tags.size() / kNvTagSize));
  out.u32(0);
  out.bytes(pending.old_tags);
  out.bytes(pending.new_tags);
  out.bytes(pending.new_root);
}

DiskRecord nv_decode_record(ByteReader& in) {
  DiskRecord record;
  const ByteView uuid = in.bytes("image uuid", record.image_uuid.size());
  std::copy(uuid.begin(), uuid.end(), record.image_uuid.begin());
  record.root = to_bytes(in.bytes("root", kNvRootSize));
  record.version = in.u64("version");
  const std::size_t flags_at = in.offset();
  const std::uint8_t flags = in.u8("flags");
  if ((flags & ~kNvFlagPending) != 0) in.fail_at("flags", flags_at, "unknown flag bits");
  in.expect_zero("reserved", 7);
  if ((flags & kNvFlagPending) == 0) return record;

  PendingDiskWrite pending;
  pending.first_sector = in.u64("pending first sector");
  const std::size_t count_at = in.offset();
  const std::uint32_t count = in.u32("pending sector count");
  if (count > kNvMaxPendingSectors) in.fail_at("pending sector count", count_at, "above 2048");
  if (!add_checked<std::uint64_t>(pending.first_sector, count)) {
    in.fail_at("pending sector count", count_at, "the range passes 2^64");
  }
  in.expect_zero("pending reserved", 4);
  const auto tag_bytes = mul_checked<std::size_t>(count, kNvTagSize);
  if (!tag_bytes) in.fail_at("pending sector count", count_at, "overflows");
  pending.old_tags = to_bytes(in.bytes("pending old tags", *tag_bytes));
  pending.new_tags = to_bytes(in.bytes("pending new tags", *tag_bytes));
  pending.new_root = to_bytes(in.bytes("pending new root", kNvRootSize));
  record.pending = std::move(pending);
  return record;
}

struct NvStorageImage {
  std::uint64_t sequence = 0;
  std::vector<DiskRecord> records;
};

NvStorageImage nv_decode_storage(ByteView body, crypto::SuiteId suite,
                                 const std::filesystem::path& path) {
  try {
    ByteReader in(body, path.string());
    nv_check_header(in, kNvStorageMagic, suite);
    in.expect_zero("reserved", 1);
    const std::size_t count_at = in.offset();
    const std::uint32_t count = in.u32("record count");
    if (count > kMaxNvRecords) in.fail_at("record count", count_at, "above the limit");
    NvStorageImage image;
    image.sequence = in.u64("sequence");
    image.records.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::size_t at = in.offset();
      DiskRecord record = nv_decode_record(in);
      if (!image.records.empty() && !(image.records.back().image_uuid < record.image_uuid)) {
        in.fail_at("image uuid", at, "records are not in strictly ascending UUID order");
      }
      image.records.push_back(std::move(record));
    }
    in.expect_end();
    return image;
  } catch (const std::exception&) {
    throw NvLoadFailure{NvFault::malformed};
  }
}

std::uint64_t nv_decode_counter(ByteView body, crypto::SuiteId suite,
                                const std::filesystem::path& path) {
  try {
    ByteReader in(body, path.string());
    nv_check_header(in, kNvCounterMagic, suite);
    in.expect_zero("reserved", 5);
    const std::uint64_t counter = in.u64("counter");
    in.expect_end();
    return counter;
  } catch (const std::exception&) {
    throw NvLoadFailure{NvFault::malformed};
  }
}

Bytes nv_encode_counter(crypto::SuiteId suite, ByteView key, std::uint64_t counter) {
  ByteWriter out;
  out.bytes(as_bytes(kNvCounterMagic));
  out.u16(kNvFormatVersion);
  out.u8(static_cast<std::uint8_t>(suite));
  out.zeros(5);
  out.u64(counter);
  return nv_seal(suite, key, out.take());
}

// Creates `dir` (mode 0700) unless it exists, durably. Throws std::system_error or
// CommonError{io}.
void nv_make_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    sync_directory(dir.parent_path());
  } else if (errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "mkdir " + dir.string());
  }
}

// Replaces `path` durably: write_file_atomic fsyncs the new file, then the directory's
// fsync keeps the rename. A power cut must not undo a store the PSP has acted on (written
// sectors after a pending record, a root in a report), nor separate the storage from the
// counter. Throws CommonError{io}.
void nv_write_durably(const std::filesystem::path& path, ByteView bytes) {
  write_file_atomic(path, bytes, 0600);
  sync_directory(path.parent_path());
}

}  // namespace

std::string_view to_string(NvFault fault) {
  switch (fault) {
    case NvFault::none:
      return "none";
    case NvFault::unreadable:
      return "unreadable";
    case NvFault::bad_seal:
      return "bad_seal";
    case NvFault::malformed:
      return "malformed";
    case NvFault::rolled_back:
      return "rolled_back";
    case NvFault::write_failed:
      return "write_failed";
    case NvFault::full:
      return "full";
  }
  return "unknown";
}

namespace {

// Which file `path` is: device, inode, size, modification and change times (a rename makes
// a new one); none when it does not exist, all ones when it cannot be examined (a stamp
// nothing matches).
NvFileStamp nv_stamp(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    NvFileStamp unknown = std::array<std::int64_t, 7>{};
    unknown->fill(-1);
    return unknown;
  }
  return std::array<std::int64_t, 7>{
      static_cast<std::int64_t>(st.st_dev),          static_cast<std::int64_t>(st.st_ino),
      static_cast<std::int64_t>(st.st_size),         static_cast<std::int64_t>(st.st_mtim.tv_sec),
      static_cast<std::int64_t>(st.st_mtim.tv_nsec), static_cast<std::int64_t>(st.st_ctim.tv_sec),
      static_cast<std::int64_t>(st.st_ctim.tv_nsec)};
}

// An exclusive flock on the storage directory for as long as it lives: the processes that
// run this chip's PSP read and replace storage.bin and counter.bin one at a time.
class NvDirLock {
 public:
  // Throws CommonError{io} or std::system_error.
  explicit NvDirLock(const std::filesystem::path& dir)
      : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + dir.string());
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        throw std::system_error(err, std::generic_category(), "flock " + dir.string());
      }
    }
  }
  // The lock, or none when `dir` does not exist (nothing to read, nothing to guard).
  static std::optional<NvDirLock> if_present(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
    return std::optional<NvDirLock>(std::in_place, dir);
  }
  NvDirLock(const NvDirLock&) = delete;
  NvDirLock& operator=(const NvDirLock&) = delete;
  NvDirLock(NvDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  NvDirLock& operator=(NvDirLock&&) = delete;
  ~NvDirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
  }

 private:
  int fd_;
};

// Removes the temporary files of stores that a killed process left behind
// (write_file_atomic's ".storage.bin.tmp-XXXXXX" and ".counter.bin.tmp-XXXXXX"). Only under
// the lock: a live store holds it while its temporary file exists. Best effort: a file that
// cannot be removed stays, as harmless as before.
void nv_remove_stale_temporaries(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    for (const std::string_view file : {kNvStorageFile, kNvCounterFile}) {
      if (name.starts_with("." + std::string(file) + ".tmp-")) {
        std::error_code ignored;
        std::filesystem::remove(it->path(), ignored);
      }
    }
  }
}

}  // namespace

NvStorage::NvStorage(std::filesystem::path dir, crypto::SuiteId suite, Bytes seal_key)
    : dir_(std::move(dir)), suite_(suite), seal_key_(std::move(seal_key)) {}

NvFault NvStorage::load() {
  if (loaded_) return *loaded_;
  NvFault verdict = NvFault::unreadable;
  try {
    // Another process of this chip (each one runs the same PSP) may be storing: read a
    // storage and its counter as one (no lock when the directory does not exist yet).
    const std::optional<NvDirLock> lock = NvDirLock::if_present(dir_);
    if (lock) nv_remove_stale_temporaries(dir_);
    verdict = read_files();
  } catch (const std::exception&) {
    verdict = NvFault::unreadable;
  }
  if (verdict != NvFault::none) forget();
  loaded_ = verdict;
  return verdict;
}

void NvStorage::forget() {
  records_.clear();
  sequence_ = 0;
  counter_ = 0;
}

NvFault NvStorage::read_files() {
  const std::filesystem::path storage_path = dir_ / kNvStorageFile;
  const std::filesystem::path counter_path = dir_ / kNvCounterFile;
  NvFault verdict = NvFault::none;
  try {
    const NvFileStamp stamp = nv_stamp(storage_path);
    std::optional<NvStorageImage> image;
    if (auto file = nv_read_optional(storage_path, kNvMaxStorageFileSize)) {
      image = nv_decode_storage(nv_unseal(suite_, seal_key_, *file), suite_, storage_path);
    }
    std::uint64_t counter = 0;  // no counter.bin: the counter was never written
    if (auto file = nv_read_optional(counter_path, kNvCounterFileSize)) {
      counter = nv_decode_counter(nv_unseal(suite_, seal_key_, *file), suite_, counter_path);
    }
    const std::uint64_t sequence = image ? image->sequence : 0;
    // The counter is written after the storage, so an honest storage is level with it or,
    // after a crash between the two writes, one ahead. Behind it: an old storage.bin put
    // back (or storage.bin deleted). More than one ahead: the counter went back, which
    // would let an older storage through next time.
    if (sequence < counter || sequence - counter > 1) {
      verdict = NvFault::rolled_back;
    } else {
      sequence_ = sequence;
      counter_ = counter;
      storage_stamp_ = stamp;
      if (image) records_ = std::move(image->records);
      if (counter_ < sequence_) {
        // Finish the interrupted store. If this fails too the storage stays one ahead,
        // which is still accepted, and the next store() retries first.
        try {
          nv_write_durably(counter_path, nv_encode_counter(suite_, seal_key_, sequence_));
          counter_ = sequence_;
        } catch (const std::exception&) {
        }
      }
    }
  } catch (const NvLoadFailure& failure) {
    verdict = failure.fault;
  } catch (const std::exception&) {
    verdict = NvFault::unreadable;
  }
  return verdict;
}

const DiskRecord* NvStorage::find(const std::array<std::uint8_t, 16>& image_uuid) const {
  if (loaded_ != NvFault::none) return nullptr;
  const auto it = std::lower_bound(
      records_.begin(), records_.end(), image_uuid,
      [](const DiskRecord& record, const auto& uuid) { return record.image_uuid < uuid; });
  return it != records_.end() && it->image_uuid == image_uuid ? &*it : nullptr;
}

NvFault NvStorage::store(const DiskRecord& record) {
  const NvFault verdict = load();
  if (verdict != NvFault::none) return verdict;
  if (!nv_record_encodable(record)) return NvFault::malformed;

  const std::filesystem::path storage_path = dir_ / kNvStorageFile;
  const std::filesystem::path counter_path = dir_ / kNvCounterFile;
  std::optional<NvDirLock> lock;
  try {
    nv_make_dir(dir_);
    lock.emplace(dir_);
  } catch (const std::exception&) {
    return NvFault::write_failed;
  }
  // Keep what another process of this chip stored since this one last read or wrote
  // storage.bin (the records of its images): when the file is not the one this process
  // knows, read the files again under the lock. A storage older than the one this process
  // last saw was put back by the host.
  if (nv_stamp(storage_path) != storage_stamp_) {
    const std::uint64_t seen = sequence_;
    const NvFault fresh = read_files();
    // Files that cannot be read now fail this store only; edited, forged or older ones are
    // refused from now on, as a load would refuse them.
    if (fresh == NvFault::unreadable) return NvFault::write_failed;
    if (fresh != NvFault::none || sequence_ < seen) {
      forget();
      loaded_ = fresh != NvFault::none ? fresh : NvFault::rolled_back;
      return *loaded_;
    }
  }

  const std::size_t index =
      static_cast<std::size_t>(std::lower_bound(records_.begin(), records_.end(), record.image_uuid,
                                                [](const DiskRecord& existing, const auto& uuid) {
                                                  return existing.image_uuid < uuid;
                                                }) -
                               records_.begin());
  const bool replaces = index < records_.size() && records_[index].image_uuid == record.image_uuid;
  const std::size_t count = records_.size() + (replaces ? 0 : 1);
  if (count > kMaxNvRecords) return NvFault::full;
  const auto next_sequence = add_checked<std::uint64_t>(sequence_, 1);
  if (!next_sequence) return NvFault::write_failed;

  std::optional<DiskRecord> copy;
  try {
    // Everything that can fail for want of memory happens before storage.bin is replaced,
    // so that the records in memory can follow it without failing.
    copy = record;
    records_.reserve(count);
    // A counter left one behind (a failed update) catches up first, so that the storage
    // is never two ahead of it.
    if (counter_ < sequence_) {
      nv_write_durably(counter_path, nv_encode_counter(suite_, seal_key_, sequence_));
      counter_ = sequence_;
    }
    ByteWriter out;
    out.bytes(as_bytes(kNvStorageMagic));
    out.u16(kNvFormatVersion);
    out.u8(static_cast<std::uint8_t>(suite_));
    out.u8(0);
    out.u32(static_cast<std::uint32_t>(count));
    out.u64(*next_sequence);
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (i == index) {
        nv_encode_record(out, record);
        if (replaces) continue;
      }
      nv_encode_record(out, records_[i]);
    }
    if (index == records_.size()) nv_encode_record(out, record);
    const Bytes sealed = nv_seal(suite_, seal_key_, out.take());
    nv_make_dir(dir_);
    nv_write_durably(storage_path, sealed);
    storage_stamp_ = nv_stamp(storage_path);
  } catch (const std::exception&) {
    return NvFault::write_failed;
  }

  // storage.bin is in place: the store has happened, whatever becomes of the counter.
  // (Moves only, into reserved capacity: nothing here throws.)
  const auto position = records_.begin() + static_cast<std::ptrdiff_t>(index);
  if (replaces) {
    *position = std::move(*copy);
  } else {
    records_.insert(position, std::move(*copy));
  }
  sequence_ = *next_sequence;
  try {
    nv_write_durably(counter_path, nv_encode_counter(suite_, seal_key_, sequence_));
    counter_ = sequence_;
  } catch (const std::exception&) {
    // Left one behind: load() accepts that, and the next store() catches it up first.
  }
  return NvFault::none;
}

Bytes derive_nv_seal_key(const crypto::Key& wrapping_private_key) {
  std::string pem = wrapping_private_key.private_pem();
  Bytes key =
      crypto::suite_hmac(wrapping_private_key.suite(), as_bytes(pem), as_bytes(kNvSealLabel));
  secure_wipe(MutableByteView(reinterpret_cast<std::uint8_t*>(pem.data()),  // NOLINT
                              pem.size()));
  return key;
}

}  // namespace cvmsim::psp
