#include "hw/disk/disk_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/checked.h"
#include "common/helper_thread.h"
#include "crypto/suite.h"
#include "hw/host_memory.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {
namespace {

[[noreturn]] void refuse_dma(const std::string& why) {
  throw HwError(HwErrc::bad_dma, why);
}

}  // namespace

std::uint32_t DiskController::attach(const std::filesystem::path& path, bool writable) {
  const std::uint32_t port = next_port_++;
  ports_.emplace(port, BlockFile(path, writable));
  return port;
}

void DiskController::detach(std::uint32_t port) {
  ports_.erase(port);
}

BlockFile& DiskController::backing(std::uint32_t port) {
  const auto it = ports_.find(port);
  if (it == ports_.end()) refuse_dma(fmt::format("disk port {} has no disk attached", port));
  return it->second;
}

void DiskController::program_keyslot(PspPasskey, std::uint32_t slot, const DiskKeyslot& config) {
  if (slot >= kDiskKeyslots) refuse_dma(fmt::format("keyslot {} does not exist", slot));
  if (config.sector_size != 512 && config.sector_size != 4096) {
    refuse_dma(
        fmt::format("keyslot {}: sector size {} is not 512 or 4096", slot, config.sector_size));
  }
  if (config.data_length == 0 || config.data_length % config.sector_size != 0 ||
      config.data_offset % kRawSectorSize != 0) {
    refuse_dma(fmt::format("keyslot {}: data segment at {:#x} of {} bytes is not sector-aligned",
                           slot, config.data_offset, config.data_length));
  }
  const auto end = add_checked(config.data_offset, config.data_length);
  if (!end || *end > backing(config.port).size()) {
    refuse_dma(fmt::format("keyslot {}: data segment [{:#x}, +{}) lies beyond the disk on port {}",
                           slot, config.data_offset, config.data_length, config.port));
  }
  auto entry = std::make_unique<Slot>();
  entry->cipher = crypto::suite(config.suite).new_xts(config.key);
  entry->config = config;
  slots_[slot] = std::move(entry);
  if (trace_ != nullptr) {
    trace_->record({.actor = trace::Actor::psp,
                    .target = trace::Actor::disk_controller,
                    .name = "keyslot_program",
                    .category = trace::category::disk,
                    .asid = config.bound_asid,
                    .args = {{"keyslot", slot},
                             {"port", config.port},
                             {"sector_size", config.sector_size},
                             {"data_offset", config.data_offset},
                             {"data_length", config.data_length}}});
  }
}

void DiskController::clear_keyslot(PspPasskey, std::uint32_t slot) {
  if (slot < kDiskKeyslots) slots_[slot].reset();
}

bool DiskController::keyslot_loaded(std::uint32_t slot) const {
  return slot < kDiskKeyslots && slots_[slot] != nullptr;
}

DmaVerdict DiskController::check_file_side(const DmaDescriptor& d, const Slot*& slot,
                                           std::uint64_t& offset) const {
  slot = nullptr;
  const auto port = ports_.find(d.port);
  if (port == ports_.end()) return {DmaFault::no_disk, d.port};
  if (d.keyslot) {
    if (!keyslot_loaded(*d.keyslot)) return {DmaFault::no_key, *d.keyslot};
    slot = slots_[*d.keyslot].get();
  }
  return check_extent(d, slot != nullptr ? &slot->config : nullptr, port->second.size(), offset);
}

DmaVerdict DiskController::check(PspPasskey, const DmaDescriptor& descriptor) const {
  const Slot* slot = nullptr;
  std::uint64_t offset = 0;
  return check_file_side(descriptor, slot, offset);
}

DiskController::DiskController(MemoryController& mc)
    : mc_(mc), two_cores_(std::thread::hardware_concurrency() >= 2) {}

DiskController::~DiskController() = default;

MutableByteView DiskController::staging(std::size_t length) {
  if (staging_.size() < length) staging_.resize(kMaxDmaBytes);
  return MutableByteView(staging_).first(length);
}

namespace {

// Frame `i`'s bytes of a transfer buffer (the last frame may be partly used).
template <typename View>
View frame_bytes(View transfer, std::size_t i) {
  const std::size_t begin = i * kFrameSize;
  return transfer.subspan(begin, std::min<std::size_t>(kFrameSize, transfer.size() - begin));
}

bool follows(const std::uint8_t* previous, const std::uint8_t* next) {
  return reinterpret_cast<std::uintptr_t>(next) ==
         reinterpret_cast<std::uintptr_t>(previous) + kFrameSize;
}

}  // namespace

void DiskController::copy_to_memory(const DmaDescriptor& d, ByteView data) {
  for (std::size_t i = 0; i < d.frames.size(); ++i) {
    mc_.write(d.frames[i], frame_bytes(data, i), d.memory);
  }
}

std::vector<std::uint8_t*> DiskController::frame_targets(const DmaDescriptor& d) {
  std::vector<std::uint8_t*> targets(d.frames.size());
  for (std::size_t i = 0; i < d.frames.size(); ++i) {
    targets[i] = mc_.device_frame(d.frames[i], d.memory);
  }
  return targets;
}

void DiskController::decrypt_frames(const DmaDescriptor& d, const Slot& slot, MutableByteView data,
                                    const std::vector<std::uint8_t*>& targets, std::size_t first,
                                    std::size_t last) {
  // Frames hold whole sectors: sectors are 512 or 4096 bytes, frames start at multiples of
  // 4096 in the transfer, and the length is whole sectors. Frames that are neighbours in
  // host memory too (or that all decrypt in place) go through the cipher in one call: it
  // computes the tweaks of several sectors together.
  const std::uint32_t sector_size = slot.config.sector_size;
  for (std::size_t i = first; i < last;) {
    std::size_t j = i + 1;
    while (j < last &&
           (targets[i] == nullptr ? targets[j] == nullptr : follows(targets[j - 1], targets[j]))) {
      ++j;
    }
    const std::size_t begin = i * kFrameSize;
    const std::size_t n = std::min<std::size_t>(data.size(), j * kFrameSize) - begin;
    const MutableByteView ciphertext = data.subspan(begin, n);
    const MutableByteView plaintext =
        targets[i] != nullptr ? MutableByteView(targets[i], n) : ciphertext;
    slot.cipher->decrypt_units(d.start + begin / sector_size, sector_size, ciphertext, plaintext);
    i = j;
  }
}

void DiskController::finish_frames(const DmaDescriptor& d, ByteView data,
                                   const std::vector<std::uint8_t*>& targets) {
  for (std::size_t i = 0; i < d.frames.size();) {
    if (targets[i] == nullptr) {
      mc_.write(d.frames[i], frame_bytes(data, i), d.memory);
      ++i;
      continue;
    }
    std::size_t j = i + 1;  // one report per run of neighbouring host frames
    while (j < d.frames.size() && targets[j] != nullptr &&
           d.frames[j] == d.frames[j - 1] + kFrameSize) {
      ++j;
    }
    const std::size_t begin = i * kFrameSize;
    mc_.device_wrote(d.frames[i], std::min<std::size_t>(data.size(), j * kFrameSize) - begin);
    i = j;
  }
}

void DiskController::read_decrypt_to_memory(const DmaDescriptor& d, const Slot& slot,
                                            const BlockFile& file, std::uint64_t offset,
                                            MutableByteView data) {
  const std::vector<std::uint8_t*> targets = frame_targets(d);
  const std::size_t frames = d.frames.size();
  if (frames < kParallelFrames || !two_cores_) {
    file.read_at(offset, data);
    decrypt_frames(d, slot, data, targets, 0, frames);
  } else {
    // Bulk transfers use a second core: the helper reads the second half from the file and
    // decrypts it while this thread does the same with the first half. The two reads run
    // at the same time, each on its own core (page-cache copies are about a fifth of a
    // transfer's time). Memory-controller calls stay on this thread (its write observers
    // are not thread-safe): the targets were looked up above, the reports follow below.
    if (!helper_) helper_ = std::make_unique<HelperThread>();
    const std::size_t split = frames / 2;
    const std::size_t split_bytes = split * kFrameSize;
    helper_->post([&] {
      file.read_at(offset + split_bytes, data.subspan(split_bytes));
      decrypt_frames(d, slot, data, targets, split, frames);
    });
    try {
      file.read_at(offset, data.first(split_bytes));
      decrypt_frames(d, slot, data, targets, 0, split);
    } catch (...) {
      try {
        helper_->wait();  // the job uses this frame's data: never unwind past it
      } catch (...) {     // the first failure is the one reported
      }
      throw;
    }
    helper_->wait();
  }
  finish_frames(d, data, targets);
  stats_.sectors_decrypted += data.size() / slot.config.sector_size;
}

void DiskController::copy_from_memory(const DmaDescriptor& d, MutableByteView data) {
  for (std::size_t i = 0; i < d.frames.size(); ++i) {
    mc_.read(d.frames[i], frame_bytes(data, i), d.memory);
  }
}

void DiskController::transfer(const DmaDescriptor& d, const Slot* slot, std::uint64_t offset) {
  BlockFile& file = ports_.at(d.port);
  const MutableByteView data = staging(d.length);
  if (d.direction == DmaDirection::to_memory) {
    if (slot != nullptr) {
      read_decrypt_to_memory(d, *slot, file, offset, data);
    } else {
      file.read_at(offset, data);
      copy_to_memory(d, data);
    }
    stats_.bytes_to_memory += d.length;
  } else {
    // check_extent refuses raw writes before a transfer starts.
    if (slot == nullptr)
      throw HwError(HwErrc::bad_dma, "raw transfers to the disk are not allowed");
    copy_from_memory(d, data);
    slot->cipher->encrypt_units(d.start, slot->config.sector_size, data, data);
    stats_.sectors_encrypted += d.length / slot->config.sector_size;
    file.write_at(offset, data);
    stats_.bytes_to_disk += d.length;
  }
}

DmaCompletion DiskController::run_dma(PspPasskey, std::uint64_t tag,
                                      const DmaDescriptor& descriptor) {
  DmaCompletion done{tag, descriptor.port, DmaFault::none, 0};
  const bool to_memory = descriptor.direction == DmaDirection::to_memory;
  if (trace_ != nullptr) {
    trace_->record({.actor = trace::Actor::psp,
                    .target = trace::Actor::disk_controller,
                    .name = "dma",
                    .category = trace::category::disk,
                    .asid = descriptor.memory.key_asid(),
                    .args = {{"tag", tag},
                             {"port", descriptor.port},
                             {"direction", to_memory ? "to_memory" : "to_disk"},
                             {"keyslot", descriptor.keyslot ? nlohmann::json(*descriptor.keyslot)
                                                            : nlohmann::json(nullptr)},
                             {"start", descriptor.start},
                             {"bytes", descriptor.length},
                             {"frames", descriptor.frames.size()}}});
  }
  const Slot* slot = nullptr;
  std::uint64_t offset = 0;
  DmaVerdict verdict = check_file_side(descriptor, slot, offset);
  if (verdict.ok()) verdict = check_frames(descriptor);
  ++stats_.transfers;
  if (!verdict.ok()) {
    done.fault = verdict.fault;
    return complete(done);
  }
  try {
    transfer(descriptor, slot, offset);
    if (trace_ != nullptr) {
      // The memory side: the frames move through the memory controller under the
      // descriptor's key slot (the encryption engine re-encrypts them).
      trace_->record({.actor = trace::Actor::disk_controller,
                      .target = trace::Actor::memory_controller,
                      .name = to_memory ? "dma_write_frames" : "dma_read_frames",
                      .category = trace::category::disk,
                      .asid = descriptor.memory.key_asid(),
                      .args = {{"tag", tag}, {"frames", descriptor.frames.size()}}});
    }
    done.bytes = descriptor.length;
  } catch (const HwError& e) {
    done.fault = e.code() == HwErrc::io ? DmaFault::io_failed : DmaFault::frame_refused;
  } catch (const Error&) {
    done.fault = DmaFault::coprocessor_failed;  // the cipher (OpenSSL) failed
  }
  return complete(done);
}

DmaCompletion DiskController::flush(PspPasskey, std::uint64_t tag, std::uint32_t port) {
  DmaCompletion done{tag, port, DmaFault::none, 0};
  const auto it = ports_.find(port);
  if (it == ports_.end()) {
    done.fault = DmaFault::no_disk;
  } else {
    try {
      it->second.sync();
    } catch (const HwError&) {
      done.fault = DmaFault::io_failed;
    }
  }
  ++stats_.flushes;
  return complete(done);
}

std::vector<DiskInterrupt> DiskController::take_interrupts() {
  std::vector<DiskInterrupt> taken(raised_.begin(), raised_.end());
  raised_.clear();
  return taken;
}

DmaCompletion DiskController::complete(DmaCompletion done) {
  ++stats_.interrupts;
  if (trace_ != nullptr) {
    trace_->record({.actor = trace::Actor::disk_controller,
                    .target = trace::Actor::vmm,
                    .name = "completion_interrupt",
                    .category = trace::category::interrupt,
                    .args = {{"tag", done.tag}, {"port", done.port}, {"ok", done.ok()}}});
  }
  if (raised_.size() == kMaxRaisedInterrupts) {
    raised_.pop_front();
    ++stats_.interrupts_lost;
  }
  raised_.push_back({done.port, done.tag});
  return done;
}

}  // namespace cvmsim::hw
