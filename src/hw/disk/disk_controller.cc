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
  if (config.tag_offset) load_tags(slot, *entry);
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

void DiskController::load_tags(std::uint32_t slot, Slot& entry) {
  const DiskKeyslot& config = entry.config;
  const std::uint64_t sectors = config.data_length / config.sector_size;
  const std::uint64_t tag_bytes = sectors * crypto::kSectorTagSize;  // < data_length
  const auto end = add_checked(*config.tag_offset, tag_bytes);
  if (!end || *end > backing(config.port).size()) {
    refuse_dma(fmt::format("keyslot {}: tag area [{:#x}, +{}) lies beyond the disk on port {}",
                           slot, *config.tag_offset, tag_bytes, config.port));
  }
  Bytes tags(tag_bytes);
  backing(config.port).read_at(*config.tag_offset, tags);
  entry.tree.emplace(config.suite, std::move(tags));
  for (auto& tagger : entry.taggers) {
    tagger = std::make_unique<crypto::SectorTagger>(config.suite, config.key);
  }
}

void DiskController::clear_keyslot(PspPasskey, std::uint32_t slot) {
  if (slot >= kDiskKeyslots) return;
  if (staged_ && staged_->slot == slots_[slot].get()) staged_.reset();
  slots_[slot].reset();
}

Bytes DiskController::tag_root(PspPasskey, std::uint32_t slot) const {
  if (!keyslot_loaded(slot) || !slots_[slot]->tree) return {};
  const ByteView root = slots_[slot]->tree->root();
  return {root.begin(), root.end()};
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

void DiskController::on_lanes(
    std::size_t frames, const std::function<void(std::size_t, std::size_t, std::size_t)>& job) {
  if (frames < kParallelFrames || !two_cores_) {
    job(0, frames, 0);
    return;
  }
  // Bulk transfers use a second core: the helper takes the second half while this thread
  // does the first. Page-cache copies are about a fifth of a transfer's time, so the two
  // halves also read the file at the same time, each on its own core.
  if (!helper_) helper_ = std::make_unique<HelperThread>();
  const std::size_t split = frames / 2;
  helper_->post([&] { job(split, frames, 1); });
  try {
    job(0, split, 0);
  } catch (...) {
    try {
      helper_->wait();  // the job uses this frame's data: never unwind past it
    } catch (...) {     // the first failure is the one reported
    }
    throw;
  }
  helper_->wait();
}

std::optional<std::uint64_t> DiskController::read_decrypt_to_memory(const DmaDescriptor& d,
                                                                    Slot& slot,
                                                                    const BlockFile& file,
                                                                    std::uint64_t offset,
                                                                    MutableByteView data) {
  // Memory-controller calls stay on this thread (its write observers are not
  // thread-safe): the targets are looked up here, the reports follow in finish_frames.
  const std::vector<std::uint8_t*> targets = frame_targets(d);
  const std::size_t frames = d.frames.size();
  const std::uint32_t sector_size = slot.config.sector_size;
  const auto bytes_of = [&](std::size_t first, std::size_t last) {
    const std::size_t begin = first * kFrameSize;
    return std::pair{begin, std::min<std::size_t>(data.size(), last * kFrameSize) - begin};
  };
  if (!slot.tree) {
    on_lanes(frames, [&](std::size_t first, std::size_t last, std::size_t) {
      const auto [begin, n] = bytes_of(first, last);
      file.read_at(offset + begin, data.subspan(begin, n));
      decrypt_frames(d, slot, data, targets, first, last);
    });
  } else {
    // Every sector is checked before any is decrypted, so a refused read leaves memory as
    // it was: two passes over the lanes.
    std::array<std::optional<std::uint64_t>, 2> mismatch;
    on_lanes(frames, [&](std::size_t first, std::size_t last, std::size_t lane) {
      const auto [begin, n] = bytes_of(first, last);
      const MutableByteView ciphertext = data.subspan(begin, n);
      file.read_at(offset + begin, ciphertext);
      const std::uint64_t first_sector = d.start + begin / sector_size;
      const std::uint64_t sectors = n / sector_size;
      if (const auto bad = slot.taggers[lane]->first_mismatch(
              first_sector, sector_size, ciphertext, slot.tree->tags(first_sector, sectors))) {
        mismatch[lane] = first_sector + *bad;
      }
    });
    stats_.sectors_tag_checked += data.size() / sector_size;
    if (mismatch[0] || mismatch[1]) {
      ++stats_.tag_mismatches;
      return mismatch[0] ? *mismatch[0] : *mismatch[1];
    }
    on_lanes(frames, [&](std::size_t first, std::size_t last, std::size_t) {
      decrypt_frames(d, slot, data, targets, first, last);
    });
  }
  finish_frames(d, data, targets);
  stats_.sectors_decrypted += data.size() / sector_size;
  return std::nullopt;
}

void DiskController::copy_from_memory(const DmaDescriptor& d, MutableByteView data) {
  for (std::size_t i = 0; i < d.frames.size(); ++i) {
    mc_.read(d.frames[i], frame_bytes(data, i), d.memory);
  }
}

std::optional<std::uint64_t> DiskController::transfer(const DmaDescriptor& d, Slot* slot,
                                                      std::uint64_t offset) {
  BlockFile& file = ports_.at(d.port);
  const MutableByteView data = staging(d.length);
  if (d.direction == DmaDirection::to_memory) {
    if (slot != nullptr) {
      if (const auto mismatch = read_decrypt_to_memory(d, *slot, file, offset, data)) {
        return mismatch;
      }
    } else {
      file.read_at(offset, data);
      copy_to_memory(d, data);
    }
    stats_.bytes_to_memory += d.length;
    return std::nullopt;
  }
  // check_extent refuses raw writes before a transfer starts.
  if (slot == nullptr) throw HwError(HwErrc::bad_dma, "raw transfers to the disk are not allowed");
  if (slot->tree) {
    // An authenticated write outside the PSP's two steps (a platform test): both at once.
    (void)stage(d, *slot, offset, 0);
    write_staged();
    return std::nullopt;
  }
  copy_from_memory(d, data);
  slot->cipher->encrypt_units(d.start, slot->config.sector_size, data, data);
  stats_.sectors_encrypted += d.length / slot->config.sector_size;
  file.write_at(offset, data);
  stats_.bytes_to_disk += d.length;
  return std::nullopt;
}

DmaVerdict DiskController::checked_slot(const DmaDescriptor& d, Slot*& slot,
                                        std::uint64_t& offset) {
  const Slot* checked = nullptr;
  DmaVerdict verdict = check_file_side(d, checked, offset);
  if (verdict.ok()) verdict = check_frames(d);
  // The slot is this controller's own: check_file_side found it in slots_.
  slot = checked != nullptr ? slots_[*d.keyslot].get() : nullptr;
  return verdict;
}

void DiskController::trace_transfer(std::uint64_t tag, const DmaDescriptor& descriptor) {
  if (trace_ == nullptr) return;
  trace_->record(
      {.actor = trace::Actor::psp,
       .target = trace::Actor::disk_controller,
       .name = "dma",
       .category = trace::category::disk,
       .asid = descriptor.memory.key_asid(),
       .args = {
           {"tag", tag},
           {"port", descriptor.port},
           {"direction", descriptor.direction == DmaDirection::to_memory ? "to_memory" : "to_disk"},
           {"keyslot",
            descriptor.keyslot ? nlohmann::json(*descriptor.keyslot) : nlohmann::json(nullptr)},
           {"start", descriptor.start},
           {"bytes", descriptor.length},
           {"frames", descriptor.frames.size()}}});
}

DmaCompletion DiskController::run_dma(PspPasskey, std::uint64_t tag,
                                      const DmaDescriptor& descriptor) {
  DmaCompletion done{tag, descriptor.port, DmaFault::none, 0};
  const bool to_memory = descriptor.direction == DmaDirection::to_memory;
  trace_transfer(tag, descriptor);
  ++stats_.transfers;
  if (staged_) {  // the PSP finishes a staged write before it starts another transfer
    done.fault = DmaFault::aborted;
    return complete(done);
  }
  Slot* slot = nullptr;
  std::uint64_t offset = 0;
  if (const DmaVerdict verdict = checked_slot(descriptor, slot, offset); !verdict.ok()) {
    done.fault = verdict.fault;
    return complete(done);
  }
  try {
    if (const auto mismatch = transfer(descriptor, slot, offset)) {
      done.fault = DmaFault::tag_mismatch;
      done.sector = *mismatch;
      return complete(done);
    }
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
  staged_.reset();
  return complete(done);
}

DiskController::StagedWrite DiskController::stage(const DmaDescriptor& d, Slot& slot,
                                                  std::uint64_t offset, std::uint64_t tag) {
  const std::uint32_t sector_size = slot.config.sector_size;
  const std::uint64_t sectors = d.length / sector_size;
  const MutableByteView data = staging(d.length);
  copy_from_memory(d, data);
  slot.cipher->encrypt_units(d.start, sector_size, data, data);
  StagedWrite write;
  write.first_sector = d.start;
  write.new_tags.resize(sectors * crypto::kSectorTagSize);
  slot.taggers[0]->tag_units(d.start, sector_size, data, write.new_tags);
  const ByteView old_tags = slot.tree->tags(d.start, sectors);
  write.old_tags.assign(old_tags.begin(), old_tags.end());
  // The root after the write, without keeping it: set, read, set back.
  slot.tree->set(d.start, write.new_tags);
  const ByteView root = slot.tree->root();
  write.new_root.assign(root.begin(), root.end());
  slot.tree->set(d.start, write.old_tags);
  Staged staged;
  staged.descriptor = d;
  staged.descriptor.frames.clear();
  staged.slot = &slot;
  staged.offset = offset;
  staged.tag = tag;
  staged.new_tags = write.new_tags;
  staged_ = std::move(staged);
  return write;
}

// The sectors first, then their tags: a crash between the two leaves sectors that match
// their new tags, which the PSP's pending record lets the next boot recognise.
void DiskController::write_staged() {
  Staged& w = *staged_;
  const ByteView data = staging(w.descriptor.length);
  BlockFile& file = ports_.at(w.descriptor.port);
  file.write_at(w.offset, data);
  w.slot->tree->set(w.descriptor.start, w.new_tags);  // the sectors on disk are the new ones
  file.write_at(*w.slot->config.tag_offset + w.descriptor.start * crypto::kSectorTagSize,
                w.new_tags);
  // Durable before the PSP commits the new root: after a power cut the disk must hold what
  // the committed root says (or the pending record settles it), never less.
  file.sync();
  stats_.sectors_encrypted += w.descriptor.length / w.slot->config.sector_size;
  stats_.bytes_to_disk += w.descriptor.length;
  staged_.reset();
}

std::variant<DiskController::StagedWrite, DmaCompletion> DiskController::stage_write(
    PspPasskey, std::uint64_t tag, const DmaDescriptor& descriptor) {
  DmaCompletion done{tag, descriptor.port, DmaFault::none, 0};
  trace_transfer(tag, descriptor);
  ++stats_.transfers;
  Slot* slot = nullptr;
  std::uint64_t offset = 0;
  DmaVerdict verdict = checked_slot(descriptor, slot, offset);
  if (verdict.ok() &&
      (descriptor.direction != DmaDirection::to_disk || slot == nullptr || !slot->tree)) {
    // Not a write to an authenticated disk: a read, or a write through a plain keyslot (a raw
    // write, without one, was refused above; the null check keeps that local).
    verdict = {DmaFault::bad_length, descriptor.start};
  }
  if (verdict.ok() && staged_) verdict = {DmaFault::aborted, staged_->tag};
  if (!verdict.ok()) {
    done.fault = verdict.fault;
    return complete(done);
  }
  try {
    return stage(descriptor, *slot, offset, tag);
  } catch (const HwError& e) {
    done.fault = e.code() == HwErrc::io ? DmaFault::io_failed : DmaFault::frame_refused;
  } catch (const Error&) {
    done.fault = DmaFault::coprocessor_failed;
  }
  staged_.reset();
  return complete(done);
}

DmaCompletion DiskController::commit_write(PspPasskey) {
  if (!staged_) return complete({0, 0, DmaFault::aborted, 0});
  DmaCompletion done{staged_->tag, staged_->descriptor.port, DmaFault::none, 0};
  const std::uint64_t length = staged_->descriptor.length;
  try {
    write_staged();
    done.bytes = length;
  } catch (const HwError&) {
    done.fault = DmaFault::io_failed;
  }
  staged_.reset();
  return complete(done);
}

DmaCompletion DiskController::cancel_write(PspPasskey) {
  if (!staged_) return complete({0, 0, DmaFault::aborted, 0});
  const DmaCompletion done{staged_->tag, staged_->descriptor.port, DmaFault::aborted, 0};
  staged_.reset();
  return complete(done);
}

DiskController::SettleResult DiskController::settle_write(PspPasskey, std::uint32_t slot_index,
                                                          std::uint64_t first_sector,
                                                          ByteView old_tags, ByteView new_tags,
                                                          ByteView committed_root) {
  if (!keyslot_loaded(slot_index) || !slots_[slot_index]->tree) return {Settle::root_mismatch};
  Slot& slot = *slots_[slot_index];
  crypto::TagTree& tree = *slot.tree;
  const std::uint32_t sector_size = slot.config.sector_size;
  const std::uint64_t sectors = old_tags.size() / crypto::kSectorTagSize;
  if (old_tags.size() != new_tags.size() || old_tags.size() % crypto::kSectorTagSize != 0 ||
      sectors > kMaxDmaBytes / sector_size || first_sector > tree.count() ||
      sectors > tree.count() - first_sector) {
    return {Settle::root_mismatch};
  }
  const Bytes file_tags(tree.tags(first_sector, sectors).begin(),
                        tree.tags(first_sector, sectors).end());
  tree.set(first_sector, old_tags);
  if (!equal_constant_time(tree.root(), committed_root)) {
    tree.set(first_sector, file_tags);
    return {Settle::root_mismatch};
  }
  BlockFile& file = ports_.at(slot.config.port);
  const MutableByteView data = staging(sectors * sector_size);
  Bytes chosen(old_tags.size());
  try {
    file.read_at(slot.config.data_offset + first_sector * sector_size, data);
    slot.taggers[0]->tag_units(first_sector, sector_size, data, chosen);
  } catch (const Error&) {
    return {Settle::io_failed};
  }
  for (std::uint64_t i = 0; i < sectors; ++i) {
    const std::size_t at = i * crypto::kSectorTagSize;
    const auto tag = ByteView(chosen).subspan(at, crypto::kSectorTagSize);
    if (!equal_constant_time(tag, new_tags.subspan(at, crypto::kSectorTagSize)) &&
        !equal_constant_time(tag, old_tags.subspan(at, crypto::kSectorTagSize))) {
      return {Settle::unsettled, first_sector + i};
    }
  }
  tree.set(first_sector, chosen);
  if (file.writable()) {
    try {
      file.write_at(*slot.config.tag_offset + first_sector * crypto::kSectorTagSize, chosen);
      file.sync();  // durable before the PSP commits the settled root, as in write_staged
    } catch (const HwError&) {
      return {Settle::io_failed};
    }
  }
  return {Settle::settled};
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
