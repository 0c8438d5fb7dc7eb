#include "image/pack.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "common/checked.h"
#include "common/hex.h"
#include "crypto/sector_tags.h"
#include "crypto/suite.h"
#include "image/image_error.h"
#include "image/luks2_build.h"
#include "image/posix_file.h"

namespace cvmsim::image {
namespace {

[[noreturn]] void bad_input(const std::string& message) {
  throw ImageError(ImageErrc::bad_input, message);
}

void validate(const PackRequest& request, const crypto::Key& provider_key) {
  const std::string_view suite = crypto::to_string(request.suite);
  if (request.sector_size != 512 && request.sector_size != 4096) {
    bad_input(fmt::format("sector size {} is not supported (512 or 4096)", request.sector_size));
  }
  if (request.chunk_size == 0 || request.chunk_size % 4096 != 0) {
    bad_input(fmt::format("chunk size {} is not a positive multiple of 4096", request.chunk_size));
  }
  if (request.chips.empty()) bad_input("no chip to pack the image for");
  // An authenticated image shows its tag area in one more token.
  const std::size_t max_chips = kLuks2MaxTokens - (request.integrity ? 1 : 0);
  if (request.chips.size() > max_chips) {
    bad_input(fmt::format("{} chips: an image {}holds at most {} certificates (LUKS2 tokens)",
                          request.chips.size(), request.integrity ? "with sector tags " : "",
                          max_chips));
  }
  if (provider_key.suite() != request.suite || !provider_key.has_private()) {
    bad_input(fmt::format("the provider key is not a {} private key", suite));
  }
  std::set<Bytes> seen;
  for (const PackChip& chip : request.chips) {
    if (chip.chip_id.size() != kCertChipIdSize) {
      bad_input(fmt::format("chip id {} is not {} bytes", to_hex(chip.chip_id), kCertChipIdSize));
    }
    if (chip.wrapping_key.suite() != request.suite) {
      bad_input(fmt::format("chip {} is of suite {}, the image of suite {}", to_hex(chip.chip_id),
                            crypto::to_string(chip.wrapping_key.suite()), suite));
    }
    if (!seen.insert(chip.chip_id).second) {
      bad_input(fmt::format("chip {} is listed twice", to_hex(chip.chip_id)));
    }
  }
  const std::size_t digest_size = crypto::suite(request.suite).digest_size();
  for (const Bytes& digest : request.allowed_measurements) {
    if (digest.size() != digest_size) {
      bad_input(fmt::format("allowed measurement {} is {} bytes; a {} launch digest is {}",
                            to_hex(digest), digest.size(), suite, digest_size));
    }
  }
}

// The image key, wiped when the pack ends however it ends.
class ImageKey {
 public:
  explicit ImageKey(std::size_t size) : bytes_(crypto::random_bytes(size)) {}
  ImageKey(const ImageKey&) = delete;
  ImageKey& operator=(const ImageKey&) = delete;
  ~ImageKey() { secure_wipe(bytes_); }
  [[nodiscard]] ByteView view() const { return bytes_; }

 private:
  Bytes bytes_;
};

struct Layout {
  Luks2Volume volume;
  std::vector<ImageCertificate> certificates;
};

// Issues the certificates and picks the smallest header whose JSON area holds them: the
// certificates bind the data offset, which depends on the header size.
Layout plan_layout(const PackRequest& request, const crypto::Key& provider_key, ByteView image_key,
                   std::uint64_t data_length) {
  const auto uuid = random_uuid();
  for (std::uint64_t hs = kLuks2MinHeaderSize; hs <= kLuks2MaxHeaderSize; hs *= 2) {
    Layout layout;
    Luks2Volume& v = layout.volume;
    v.uuid = uuid;
    v.cipher = disk_cipher_for(request.suite);
    v.sector_size = request.sector_size;
    v.header_size = hs;
    v.data_offset = luks2_data_offset_for(hs);
    v.data_length = data_length;
    v.volume_key = to_bytes(image_key);
    const std::uint64_t data_end = add_or_throw(v.data_offset, v.data_length, "image size");
    std::optional<SectorIntegrity> integrity;
    if (request.integrity) {
      // The tags follow the data segment on a 4 KiB boundary. The root is not known yet:
      // finish_certificates() signs it in once the tags are computed.
      integrity = SectorIntegrity{round_up_or_throw(data_end, kDataAlignment, "tag offset"), {}};
      const std::uint64_t tag_bytes = data_length / request.sector_size * crypto::kSectorTagSize;
      (void)add_or_throw(integrity->tag_offset, tag_bytes, "image size");
      v.tag_area = Luks2TagArea{integrity->tag_offset, tag_bytes,
                                std::string(crypto::sector_tag_algorithm(request.suite))};
    }
    for (const PackChip& chip : request.chips) {
      ImageCertificate fields;
      fields.suite = request.suite;
      fields.cipher = v.cipher;
      fields.key_bits = key_bits_for(v.cipher);
      fields.sector_size = request.sector_size;
      fields.image_uuid = uuid;
      fields.data_offset = v.data_offset;
      fields.data_length = data_length;
      fields.chip_id = chip.chip_id;
      fields.integrity = integrity;
      fields.allowed_measurements = request.allowed_measurements;
      layout.certificates.push_back(
          issue_image_certificate(std::move(fields), image_key, chip.wrapping_key, provider_key));
      ImageCertificate room = layout.certificates.back();
      // With integrity the signature is made again over the root, and its DER length may
      // differ: the metadata must fit the longest signature the provider key can give.
      if (request.integrity) room.signature.resize(crypto::Suite::max_signature_size(provider_key));
      v.tokens.push_back({chip.chip_id, room.encode()});
    }
    if (luks2_metadata_fits(v)) return layout;
    secure_wipe(v.volume_key);
  }
  bad_input(fmt::format("the certificates of {} chips do not fit the largest LUKS2 header",
                        request.chips.size()));
}

// Encrypts the data segment: workers take chunks in turn, each reading, encrypting in
// place and writing its chunk, so at most threads * chunk_size bytes are in memory.
class SegmentEncryptor {
 public:
  // `tags`: null, or room for the tags of every sector (32 bytes each), which the workers
  // compute from the ciphertext with K_tag derived from `image_key`.
  SegmentEncryptor(const PackRequest& request, const InputFile& in, const PendingOutput& out,
                   const crypto::XtsCipher& cipher, ByteView image_key, MutableByteView* tags,
                   std::uint64_t data_offset, std::uint64_t data_length)
      : request_(request),
        image_key_(image_key),
        tags_(tags),
        in_(in),
        out_(out),
        cipher_(cipher),
        data_offset_(data_offset),
        data_length_(data_length),
        chunks_((data_length + request.chunk_size - 1) / request.chunk_size) {}

  void run() {
    // One worker per core: one more (an earlier default) left the kernel's page-cache
    // writes, which bound the pack, short of CPU (docs/benchmarks.md, "Image packing":
    // with 2 cores, 2 workers beat 3 in every run).
    const unsigned threads = request_.threads != 0
                                 ? request_.threads
                                 : std::max(1u, std::thread::hardware_concurrency());
    const auto workers = static_cast<unsigned>(std::min<std::uint64_t>(threads, chunks_));
    std::vector<std::thread> pool;
    pool.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) pool.emplace_back([this] { work(); });
    {
      std::unique_lock lock(mutex_);
      while (finished_ < workers) {
        done_cv_.wait_for(lock, std::chrono::milliseconds(250));
        if (request_.progress) {
          lock.unlock();
          request_.progress(bytes_done_.load(), data_length_);
          lock.lock();
        }
      }
    }
    for (auto& t : pool) t.join();
    if (error_) std::rethrow_exception(error_);
    if (request_.progress) request_.progress(data_length_, data_length_);
  }

 private:
  void work() {
    try {
      Bytes buffer(request_.chunk_size);
      std::optional<crypto::SectorTagger> tagger;
      if (tags_ != nullptr) tagger.emplace(request_.suite, image_key_);
      for (;;) {
        const std::uint64_t chunk = next_.fetch_add(1);
        if (chunk >= chunks_ || failed_.load()) break;
        const std::uint64_t offset = chunk * request_.chunk_size;
        const auto length = static_cast<std::size_t>(
            std::min<std::uint64_t>(request_.chunk_size, data_length_ - offset));
        const MutableByteView data = MutableByteView(buffer).first(length);
        const auto present = static_cast<std::size_t>(
            std::min<std::uint64_t>(length, in_.size() > offset ? in_.size() - offset : 0));
        in_.read_at(offset, data.first(present));
        std::fill(data.begin() + static_cast<std::ptrdiff_t>(present), data.end(), 0);
        const std::uint64_t first_sector = offset / request_.sector_size;
        cipher_.encrypt_units(first_sector, request_.sector_size, data, data);
        if (tagger) {
          tagger->tag_units(first_sector, request_.sector_size, data,
                            tags_->subspan(first_sector * crypto::kSectorTagSize,
                                           length / request_.sector_size * crypto::kSectorTagSize));
        }
        // Chunks are written in order, one writer at a time, while the other workers
        // read and encrypt: concurrent pwrites to one file only spin on its inode lock
        // (6-8% of a pack's profile was rwsem_spin_on_owner) and arrive out of order for
        // the file system's delayed allocation.
        {
          std::unique_lock lock(mutex_);
          written_cv_.wait(lock, [&] { return next_to_write_ == chunk || failed_.load(); });
          if (failed_.load()) break;
        }
        out_.write_at(data_offset_ + offset, data);
        out_.start_writeback(data_offset_ + offset, length);
        {
          const std::lock_guard lock(mutex_);
          ++next_to_write_;
        }
        written_cv_.notify_all();
        bytes_done_ += length;
      }
      secure_wipe(buffer);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_ = true;
      written_cv_.notify_all();  // workers waiting for their turn to write give up
    }
    std::lock_guard lock(mutex_);
    ++finished_;
    done_cv_.notify_all();
  }

  const PackRequest& request_;
  const ByteView image_key_;
  MutableByteView* tags_;
  const InputFile& in_;
  const PendingOutput& out_;
  const crypto::XtsCipher& cipher_;
  const std::uint64_t data_offset_;
  const std::uint64_t data_length_;
  const std::uint64_t chunks_;
  std::atomic<std::uint64_t> next_{0};
  std::atomic<std::uint64_t> bytes_done_{0};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::condition_variable done_cv_;
  std::condition_variable written_cv_;
  std::uint64_t next_to_write_ = 0;  // the chunk whose turn it is to be written
  unsigned finished_ = 0;
  std::exception_ptr error_;
};

// Signs the tags' root into every certificate and refreshes the tokens. plan_layout()
// made room for the longest signature, so the metadata still fits whatever length the
// new signatures have.
void finish_certificates(Layout& layout, const crypto::Key& provider_key, ByteView root) {
  const crypto::Suite& suite = crypto::suite(provider_key.suite());
  for (std::size_t i = 0; i < layout.certificates.size(); ++i) {
    ImageCertificate& cert = layout.certificates[i];
    std::copy(root.begin(), root.end(), cert.integrity->root.begin());
    cert.signature = suite.sign(provider_key, cert.signed_body());
    layout.volume.tokens[i].certificate = cert.encode();
  }
}

}  // namespace

PackResult pack_image(const PackRequest& request, const crypto::Key& provider_private_key) {
  validate(request, provider_private_key);
  const InputFile in(request.input);
  if (in.size() == 0)
    bad_input(fmt::format("{} is empty: nothing to pack", request.input.string()));
  const std::uint64_t data_length =
      mul_or_throw((in.size() + request.sector_size - 1) / request.sector_size,
                   std::uint64_t{request.sector_size}, "data length");

  const crypto::Suite& suite = crypto::suite(request.suite);
  const ImageKey key(suite.xts_key_size());
  const std::unique_ptr<crypto::XtsCipher> cipher = suite.new_xts(key.view());
  Layout layout = plan_layout(request, provider_private_key, key.view(), data_length);

  PendingOutput out(request.output);
  std::uint64_t image_size = layout.volume.data_offset + data_length;
  Bytes tags(request.integrity ? data_length / request.sector_size * crypto::kSectorTagSize : 0);
  MutableByteView tag_view(tags);
  SegmentEncryptor(request, in, out, *cipher, key.view(), request.integrity ? &tag_view : nullptr,
                   layout.volume.data_offset, data_length)
      .run();
  if (request.integrity) {
    finish_certificates(layout, provider_private_key, crypto::tag_tree_root(request.suite, tags));
    const std::uint64_t tag_offset = layout.certificates.front().integrity->tag_offset;
    out.write_at(tag_offset, tags);
    image_size =
        round_up_or_throw<std::uint64_t>(tag_offset + tags.size(), kDataAlignment, "image size");
  }
  // The headers go last: they carry the certificates, which sign the tags' root.
  const Bytes headers = build_luks2_headers(layout.volume);
  secure_wipe(layout.volume.volume_key);
  out.write_at(0, headers);
  out.resize(image_size);  // a no-op when the last chunk was written; the keyslots are a hole
  out.commit();

  PackResult result;
  result.uuid = layout.volume.uuid;
  result.input_size = in.size();
  result.header_size = layout.volume.header_size;
  result.data_offset = layout.volume.data_offset;
  result.data_length = data_length;
  result.image_size = image_size;
  if (request.integrity) result.integrity = layout.certificates.front().integrity;
  result.certificates = std::move(layout.certificates);
  return result;
}

}  // namespace cvmsim::image
