#include "hw/memory_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/checked.h"
#include "crypto/suite.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {
namespace {

std::uint64_t frame_number(std::uint64_t hpa) {
  return hpa / kFrameSize;
}

std::string_view initiator_name(Initiator who) {
  switch (who) {
    case Initiator::host_cpu:
      return "host CPU";
    case Initiator::guest_cpu:
      return "guest CPU";
    case Initiator::dma:
      return "DMA";
    case Initiator::psp:
      return "PSP";
    case Initiator::page_walker:
      return "page walker";
  }
  return "?";
}

// The part of [hpa, hpa + length) inside [from, from + n), as {first, end}; empty when
// first >= end. One place for the range arithmetic of alias ranges.
std::pair<std::uint64_t, std::uint64_t> intersection(std::uint64_t hpa, std::uint64_t length,
                                                     std::uint64_t from, std::uint64_t n) {
  return {std::max(hpa, from), std::min(hpa + length, from + n)};
}

}  // namespace

MemoryController::MemoryController(HostMemory& memory, crypto::SuiteId suite, bool strict)
    : memory_(memory),
      suite_(suite),
      strict_(strict),
      aliased_(!memory.aliases().empty()),
      tags_(memory.size() / kChunkSize) {}

bool MemoryController::is_alias(std::uint64_t hpa) const noexcept {
  return aliased_ && memory_.alias_target(hpa).has_value();
}

FrameTag MemoryController::tag(std::uint64_t hpa) const {
  if (hpa >= memory_.size()) return FrameTag{};
  const ChunkTags* const* chunk = tags_.find(hpa / kChunkSize);
  return chunk == nullptr || *chunk == nullptr ? FrameTag{}
                                               : (**chunk)[hpa % kChunkSize / kFrameSize];
}

void MemoryController::store_tag(std::uint64_t frame_hpa, const FrameTag& t) {
  ChunkTags*& chunk = tags_.at(frame_hpa / kChunkSize);
  if (chunk == nullptr) {
    if (t == FrameTag{}) return;
    chunk = tag_chunks_.make<ChunkTags>();
  }
  (*chunk)[frame_hpa % kChunkSize / kFrameSize] = t;
}

void MemoryController::notify_retag(std::uint64_t hpa, std::uint64_t length) {
  for (const auto& [id, observer] : tag_observers_) observer(hpa, length);
}

std::uint64_t MemoryController::add_tag_observer(TagObserver observer) {
  const std::uint64_t id = next_observer_++;
  tag_observers_.emplace(id, std::move(observer));
  return id;
}

void MemoryController::remove_tag_observer(std::uint64_t id) {
  tag_observers_.erase(id);
}

std::vector<std::uint64_t> MemoryController::frames_of(std::uint32_t owner) const {
  std::vector<std::uint64_t> out;
  tags_.for_each([&](std::uint64_t chunk_number, const ChunkTags* chunk) {
    if (chunk == nullptr) return;
    for (std::size_t i = 0; i < chunk->size(); ++i) {
      const FrameTag& t = (*chunk)[i];
      if (t.owner == owner && t.use != FrameUse::host) {
        out.push_back(chunk_number * kChunkSize + i * kFrameSize);
      }
    }
  });
  return out;  // in address order
}

const crypto::XtsCipher& MemoryController::key(std::uint32_t asid) const {
  const auto it = keys_.find(asid);
  if (it == keys_.end()) {
    throw HwError(HwErrc::no_key, fmt::format("no memory encryption key in slot {}", asid));
  }
  return *it->second;
}

SlotProtection MemoryController::protection(std::uint32_t asid) const {
  const auto it = protections_.find(asid);
  return it == protections_.end() ? SlotProtection{} : it->second;
}

SlotProtection MemoryController::foreign_protection(const FrameTag& t, Requester who) const {
  // The slot's own requesters and the PSP are never refused; most accesses end here.
  if (t.asid == who.key_asid() || who.who() == Initiator::psp || protections_.empty()) return {};
  return protection(t.asid);
}

void MemoryController::check_guard(const FrameTag& t, Requester who, bool write,
                                   std::uint64_t hpa) const {
  if (who.who() == Initiator::psp) return;  // guards restrict everyone but the PSP
  const std::uint64_t frame_hpa = hpa / kFrameSize * kFrameSize;
  const bool denied =
      t.guard == FrameGuard::no_access || (write && t.guard == FrameGuard::write_blocked);
  if (denied) {
    throw HwError(HwErrc::access_denied,
                  fmt::format("memory controller blocked a {} {} of frame {:#x} (guarded {})",
                              initiator_name(who.who()), write ? "write" : "read", frame_hpa,
                              t.guard == FrameGuard::no_access ? "PSP-private" : "write-blocked"));
  }
  if (write && foreign_protection(t, who).refuse_foreign_writes) {
    if (trace_ != nullptr) {
      trace_->record({.actor = trace::Actor::memory_controller,
                      .target = std::nullopt,
                      .name = "write_blocked",
                      .category = trace::category::vm,
                      .vm = t.owner,
                      .asid = t.asid,
                      .args = {{"hpa", frame_hpa},
                               {"initiator", std::string(initiator_name(who.who()))},
                               {"reason", "memory-integrity"}}});
    }
    throw HwError(HwErrc::access_denied,
                  fmt::format("memory controller blocked a {} write of frame {:#x}: it belongs "
                              "to ASID {}, whose policy has memory-integrity (only its own key "
                              "and the PSP write it)",
                              initiator_name(who.who()), frame_hpa, t.asid));
  }
}

Bytes MemoryController::dram_of(std::uint64_t frame_hpa, const FrameTag& t) {
  const std::uint8_t* bytes = memory_.frame(frame_hpa);
  Bytes dram(bytes, bytes + kFrameSize);
  if (!strict_ && t.asid != 0) {
    key(t.asid).encrypt_unit(crypto::plain64_tweak(frame_number(frame_hpa)), dram, dram);
  }
  return dram;
}

void MemoryController::store_dram(std::uint64_t frame_hpa, const FrameTag& t, ByteView dram) {
  std::uint8_t* bytes = memory_.frame(frame_hpa);
  MutableByteView out(bytes, kFrameSize);
  if (!strict_ && t.asid != 0) {
    key(t.asid).decrypt_unit(crypto::plain64_tweak(frame_number(frame_hpa)), dram, out);
  } else {
    std::memcpy(bytes, dram.data(), kFrameSize);
  }
}

void MemoryController::access_frame(std::uint64_t frame_hpa, std::size_t offset,
                                    MutableByteView out, ByteView in, Requester who, bool write) {
  const FrameTag t = tag(frame_hpa);
  check_guard(t, who, write, frame_hpa);
  const std::size_t length = write ? in.size() : out.size();
  if (!write && foreign_protection(t, who).hide_ciphertext) {
    // Decided by the tag and the slot alone, before any representation is consulted: the
    // fast and strict models answer alike.
    std::fill_n(out.data(), length, kHiddenCiphertextByte);
    return;
  }
  // An alias address (hw/dram_alias.h) reaches another frame's cells: the controller
  // guards and tweaks by the address it sees, but the cells hold what their own frame's
  // tag defines (in the fast representation, plaintext under that frame's key slot).
  std::uint64_t cells = frame_hpa;
  FrameTag cells_tag = t;
  if (aliased_) {
    if (const auto target = memory_.alias_target(frame_hpa)) {
      cells = *target;
      cells_tag = tag(cells);
    }
  }
  if (cells == frame_hpa && stored_as_seen_by(t, who)) {
    std::uint8_t* bytes = memory_.frame(frame_hpa) + offset;
    if (write) {
      std::memcpy(bytes, in.data(), length);
    } else {
      std::memcpy(out.data(), bytes, length);
    }
    return;
  }
  // Slow path: go through the DRAM image, as the hardware would.
  Bytes view = dram_of(cells, cells_tag);
  const auto tweak = crypto::plain64_tweak(frame_number(frame_hpa));
  if (who.key_asid() != 0) key(who.key_asid()).decrypt_unit(tweak, view, view);
  if (!write) {
    std::memcpy(out.data(), view.data() + offset, length);
    return;
  }
  std::memcpy(view.data() + offset, in.data(), length);
  if (who.key_asid() != 0) key(who.key_asid()).encrypt_unit(tweak, view, view);
  store_dram(cells, cells_tag, view);
}

void MemoryController::read(std::uint64_t hpa, MutableByteView out, Requester who) {
  memory_.check_range(hpa, out.size());
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = hpa + done;
    const std::size_t offset = at % kFrameSize;
    const std::size_t n = std::min<std::size_t>(kFrameSize - offset, out.size() - done);
    access_frame(at - offset, offset, out.subspan(done, n), {}, who, false);
    done += n;
  }
}

void MemoryController::write(std::uint64_t hpa, ByteView data, Requester who) {
  memory_.check_range(hpa, data.size());
  std::size_t done = 0;
  while (done < data.size()) {
    const std::uint64_t at = hpa + done;
    const std::size_t offset = at % kFrameSize;
    const std::size_t n = std::min<std::size_t>(kFrameSize - offset, data.size() - done);
    access_frame(at - offset, offset, {}, data.subspan(done, n), who, true);
    done += n;
  }
  notify_write(hpa, data.size());
}

void MemoryController::notify_write(std::uint64_t hpa, std::uint64_t length) {
  for (const auto& [id, observer] : observers_) observer(hpa, length);
  if (!aliased_) return;
  // The same cells under their other address: a copy of what that address shows is stale.
  const auto mirror = [&](std::uint64_t from, std::uint64_t to, std::uint64_t n) {
    const auto [first, end] = intersection(hpa, length, from, n);
    if (first >= end) return;
    for (const auto& [id, observer] : observers_) observer(to + (first - from), end - first);
  };
  for (const DramAlias& a : memory_.aliases()) {
    mirror(a.alias, a.target, a.length);
    mirror(a.target, a.alias, a.length);
  }
}

std::uint64_t MemoryController::add_write_observer(WriteObserver observer) {
  const std::uint64_t id = next_observer_++;
  observers_.emplace(id, std::move(observer));
  return id;
}

void MemoryController::remove_write_observer(std::uint64_t id) {
  observers_.erase(id);
}

std::uint8_t* MemoryController::device_frame(std::uint64_t hpa, Requester who) {
  memory_.check_range(hpa, kFrameSize);
  const FrameTag t = tag(hpa);
  check_guard(t, who, true, hpa);
  return stored_as_seen_by(t, who) && !is_alias(hpa) ? memory_.frame(hpa) : nullptr;
}

void MemoryController::device_wrote(std::uint64_t hpa, std::uint64_t length) {
  notify_write(hpa, length);
}

std::uint8_t* MemoryController::direct_frame(std::uint64_t hpa, Requester who, bool for_write) {
  // An alias frame's cells are stored as their own frame's tag says, never as this one's.
  if (strict_ || is_alias(hpa)) return nullptr;
  FrameTag t = tag(hpa);
  // A frame under a protected slot keeps its slot: re-keying it for a foreign vCPU would
  // strip the protections its VM asked for.
  if (t.asid != who.key_asid() && t.use == FrameUse::host && t.guard == FrameGuard::none &&
      (who.key_asid() == 0 || has_key(who.key_asid())) &&
      foreign_protection(t, who) == SlotProtection{}) {
    // Plain host memory used through another key slot (e.g. by a guest in `off` mode,
    // where no PSP assigns frames): keep it in that slot's representation from now on.
    // The DRAM content does not change, so this is invisible to every observer.
    const std::uint64_t frame_hpa = hpa / kFrameSize * kFrameSize;
    const Bytes dram = dram_of(frame_hpa, t);
    t.asid = who.key_asid();
    store_dram(frame_hpa, t, dram);
    store_tag(frame_hpa, t);
    notify_retag(frame_hpa, kFrameSize);
  }
  if (!stored_as_seen_by(t, who)) return nullptr;
  if (t.guard == FrameGuard::no_access || (for_write && t.guard == FrameGuard::write_blocked)) {
    return nullptr;
  }
  return memory_.frame(hpa);
}

void MemoryController::load_key(PspPasskey passkey, std::uint32_t asid, ByteView new_key,
                                SlotProtection slot_protection) {
  if (asid == 0) throw HwError(HwErrc::bad_address, "key slot 0 means unencrypted");
  if (keys_.contains(asid)) clear_key(passkey, asid);
  keys_[asid] = crypto::suite(suite_).new_xts(new_key);
  if (!(slot_protection == SlotProtection{})) protections_[asid] = slot_protection;
  trace_key("load_vek", asid);
}

void MemoryController::trace_key(const char* what, std::uint32_t asid) {
  if (trace_ == nullptr) return;
  trace_->record({.actor = trace::Actor::psp,
                  .target = trace::Actor::memory_controller,
                  .name = what,
                  .category = trace::category::vm,
                  .asid = asid});
}

void MemoryController::clear_key(PspPasskey, std::uint32_t asid) {
  if (!keys_.contains(asid)) return;
  trace_key("clear_vek", asid);
  // Frames still kept under this key keep their DRAM content: it becomes raw ciphertext.
  tags_.for_each([&](std::uint64_t chunk_number, ChunkTags* chunk) {
    if (chunk == nullptr) return;
    for (std::size_t i = 0; i < chunk->size(); ++i) {
      FrameTag& t = (*chunk)[i];
      if (t.asid != asid) continue;
      const std::uint64_t hpa = chunk_number * kChunkSize + i * kFrameSize;
      if (is_alias(hpa)) {  // its tag never defined how its cells are stored
        t.asid = 0;
        notify_retag(hpa, kFrameSize);
        continue;
      }
      const Bytes dram = dram_of(hpa, t);
      FrameTag raw = t;
      raw.asid = 0;
      store_dram(hpa, raw, dram);
      t = raw;
      notify_write(hpa, kFrameSize);  // the stored representation changed
      notify_retag(hpa, kFrameSize);
    }
  });
  keys_.erase(asid);
  protections_.erase(asid);  // its frames are the host's raw ciphertext now
}

void MemoryController::set_tag(PspPasskey, std::uint64_t hpa, FrameTag new_tag) {
  memory_.check_range(hpa, kFrameSize);
  const std::uint64_t frame_hpa = hpa / kFrameSize * kFrameSize;
  const FrameTag old = tag(frame_hpa);
  if (old.asid != new_tag.asid && !is_alias(frame_hpa)) {
    const Bytes dram = dram_of(frame_hpa, old);
    store_dram(frame_hpa, new_tag, dram);
    notify_write(frame_hpa, kFrameSize);  // the stored representation changed
  }
  store_tag(frame_hpa, new_tag);
  if (!(old == new_tag)) notify_retag(frame_hpa, kFrameSize);
}

void MemoryController::set_tag_zeroed(PspPasskey passkey, std::uint64_t hpa, FrameTag new_tag,
                                      std::uint64_t frames, Zeroing how) {
  const std::uint64_t frame_hpa = hpa / kFrameSize * kFrameSize;
  const std::uint64_t length = mul_or_throw(frames, kFrameSize, "frames to scrub");
  memory_.check_range(frame_hpa, length);
  // Strict DRAM holds ciphertext: zeros under the new key are encrypted. An alias frame's
  // cells are kept as their own frame's tag says: zeros through the alias are written so.
  const bool any_alias =
      aliased_ &&
      std::any_of(memory_.aliases().begin(), memory_.aliases().end(), [&](const DramAlias& a) {
        const auto [first, end] = intersection(frame_hpa, length, a.alias, a.length);
        return first < end;
      });
  if (strict_ || any_alias) {
    const Bytes zeros(kFrameSize, 0);
    for (std::uint64_t f = frame_hpa; f < frame_hpa + length; f += kFrameSize) {
      set_tag(passkey, f, new_tag);
      write(f, zeros, Requester::psp(passkey, new_tag.asid));
    }
    return;
  }
  if (new_tag.asid != 0) (void)key(new_tag.asid);  // throws HwError{no_key}
  // The plaintext, under the new slot.
  if (how == Zeroing::in_place) {
    std::memset(memory_.span(frame_hpa, length), 0, length);
  } else {
    memory_.zero(frame_hpa, length);
  }
  for (std::uint64_t f = frame_hpa; f < frame_hpa + length; f += kFrameSize) store_tag(f, new_tag);
  notify_write(frame_hpa, length);
  notify_retag(frame_hpa, length);
}

}  // namespace cvmsim::hw
