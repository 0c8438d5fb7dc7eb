// A secure-call bench for tests: drives IMAGE_CERT and DISK_IO the way image_boot does,
// but from the test. The VM runs without memory encryption (key slot 0), so the host can
// write its request page and header buffer in plaintext; they are mapped by NPT_MAP like
// any other guest memory.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>

#include "abi/cvm_abi.h"
#include "common/file_io.h"
#include "image/image_file.h"
#include "lab/world.h"
#include "psp/secure_call.h"
#include "vmm/vmm.h"

namespace cvmsim::lab {

inline Bytes guest(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

inline void put(Bytes& page, std::size_t at, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i) {
    page[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  }
}

inline std::uint64_t get(ByteView page, std::size_t at, int width) {
  std::uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | page[at + static_cast<std::size_t>(i)];
  return v;
}

// A VM launched with image_boot and `image` attached, whose secure calls the test makes.
class SecureCallBench {
 public:
  static constexpr std::uint64_t kRequestGpa = 0x800000;
  static constexpr std::uint64_t kBufferGpa = 0x801000;

  SecureCallBench(const World& world, const std::filesystem::path& image, bool writable = true)
      : platform_(world.chip_dir()), vmm_(platform_) {
    measure::Policy policy;
    policy.memory_encryption = false;  // the host writes the request in plaintext
    vmm::LaunchRequest request = world.launch_request(guest("image_boot"), policy);
    request.disk = image;
    request.disk_writable = writable;
    vm_ = vmm_.launch(request);
    header_ = read_file(image, 1ull << 30);
    header_.resize(image::read_luks2_header_file(image).header_size);
    map(kRequestGpa, 1 + header_.size() / hw::kFrameSize);
  }

  // IMAGE_CERT over the image's header as the host holds it now.
  psp::Response image_cert() {
    write_guest(kBufferGpa, header_);
    Bytes page = header(psp::SecureCallId::image_cert);
    put(page, 32, kBufferGpa, 8);
    put(page, 40, header_.size(), 4);
    return call(page);
  }
  // DISK_IO of one 4 KiB block at sector `start` of the data segment.
  psp::Response disk_io(std::uint64_t start, bool write) {
    return disk_request(start, 4096, write ? CVM_DISK_WRITE : CVM_DISK_READ, 0);
  }
  // A raw DISK_IO read of `length` file bytes at byte `start`.
  psp::Response raw_read(std::uint64_t start, std::uint32_t length) {
    return disk_request(start, length, CVM_DISK_READ, CVM_DISK_FLAG_RAW);
  }
  // The request page forwarded again as the PSP left it (same sequence number): what the
  // PSP reads when the host forwards one secure call twice.
  psp::Response forward_again() {
    const Bytes page = last_page_;
    return call(page);
  }
  // The status and detail the guest finds in its page.
  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> guest_status() const {
    return {get(last_page_, 16, 4), get(last_page_, 20, 4)};
  }
  // The DISK_IO completion record the guest finds in its page.
  [[nodiscard]] cvm_disk_completion completion() const {
    constexpr std::size_t at = offsetof(cvm_sc_page, args.disk_io.completion);
    return {get(last_page_, at, 8), get(last_page_, at + 8, 8),
            static_cast<std::uint32_t>(get(last_page_, at + 16, 4)),
            static_cast<std::uint32_t>(get(last_page_, at + 20, 4))};
  }
  [[nodiscard]] std::uint64_t last_sequence() const noexcept { return sequence_; }
  vmm::Platform& platform() noexcept { return platform_; }

 private:
  Bytes header(psp::SecureCallId id) {
    Bytes page(psp::kSecureCallPageSize, 0);
    put(page, 0, psp::kSecureCallMagic, 4);
    put(page, 4, psp::kSecureCallVersion, 2);
    put(page, 6, static_cast<std::uint16_t>(id), 2);
    put(page, 8, ++sequence_, 8);
    return page;
  }
  psp::Response disk_request(std::uint64_t start, std::uint32_t length, std::uint16_t direction,
                             std::uint16_t flags) {
    Bytes page = header(psp::SecureCallId::disk_io);
    put(page, 32, start, 8);
    put(page, 40, length, 4);
    put(page, 44, direction, 2);
    put(page, 46, flags, 2);
    const std::uint64_t pages = (length + hw::kFrameSize - 1) / hw::kFrameSize;
    put(page, 48, pages, 4);
    for (std::uint64_t i = 0; i < pages; ++i) put(page, 56 + 8 * i, kBufferGpa + i * 4096, 8);
    return call(page);
  }
  psp::Response call(const Bytes& page) {
    write_guest(kRequestGpa, page);
    const psp::Response r = platform_.psp().execute(psp::SecureCall{vm_, kRequestGpa});
    last_page_.resize(page.size());
    platform_.memory_controller().read(hpa_, last_page_, hw::kHostAccess);
    return r;
  }
  void map(std::uint64_t gpa, std::uint64_t pages) {
    const auto run = platform_.frames().allocate(pages);
    ASSERT_TRUE(run);
    hpa_ = run->hpa;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const psp::Response r =
          platform_.psp().execute(psp::NptMap{vm_, gpa, run->hpa, pages, {true, false, false}});
      if (r.ok()) return;
      ASSERT_EQ(r.result.status, psp::Status::resource_exhausted);
      psp::NptDonate donate{vm_, {}};
      for (std::uint64_t i = 0; i < r.result.detail; ++i) {
        donate.frames.push_back(platform_.frames().allocate(1)->hpa);
      }
      ASSERT_TRUE(platform_.psp().execute(donate).ok());
    }
    FAIL() << "NPT_MAP of the request pages failed";
  }
  void write_guest(std::uint64_t gpa, ByteView data) {
    platform_.memory_controller().write(hpa_ + (gpa - kRequestGpa), data, hw::kHostAccess);
  }

  vmm::Platform platform_;
  vmm::Vmm vmm_;
  psp::VmHandle vm_ = 0;
  std::uint64_t hpa_ = 0;  // the frame of kRequestGpa; the buffer follows it
  std::uint64_t sequence_ = 0;
  Bytes header_;
  Bytes last_page_;
};

}  // namespace cvmsim::lab
