// The memory controller and its encryption engine: every access to host DRAM goes through
// here, tagged with who makes it and which ASID's key applies.
//
// Model (docs/architecture.md, "Guest memory path"): each frame has a tag naming its key
// slot (ASID; 0 = no encryption) and how it is guarded. The DRAM content of a frame is
// *defined* as Enc(VEK[tag.asid], plaintext, tweak = frame number) — the fast
// representation keeps the plaintext and computes ciphertext only when someone without
// that key touches the frame. An access with key slot r reads Dec(VEK[r], DRAM) (r = 0:
// the raw DRAM bytes) and writes DRAM = Enc(VEK[r], data). So the VMM (r = 0) sees
// ciphertext, another VM sees garbage, a non-owner write garbles the 16-byte blocks it
// touches, and replaying old ciphertext restores old plaintext: the engine has no
// integrity, as on SEV. `strict` mode stores the DRAM bytes literally; a differential test
// proves both give identical observations.
//
// A key slot may carry protections beyond encryption, set by the PSP from the VM's policy
// when it loads the slot's key (SlotProtection): SEV-SNP's RMP write check and ciphertext
// hiding. They apply to every frame whose tag names the slot, so they begin and end with
// the VM's ownership of the frame.
//
// DRAM aliases (hw/dram_alias.h, BadRAM): an alias address reaches another frame's cells.
// The controller sees it as an address of its own (its own tag, guard and tweak), while
// the cells keep the representation their own frame's tag defines; so the host reads
// and writes the very ciphertext the victim's frame holds. A platform without aliases
// pays one flag test per frame accessed.
//
// Privileged operations (keys, tags) take a PspPasskey, which only the PSP can construct.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "crypto/suite_id.h"
#include "crypto/xts.h"
#include "hw/host_memory.h"
#include "hw/slab_arena.h"
#include "hw/sparse_table.h"
#include "trace/trace.h"

namespace cvmsim::psp {
class Psp;
}

namespace cvmsim::hw {

struct HardwareTestAccess;

// The capability behind every privileged hardware port. Its constructor is private: only
// the PSP firmware (and the hardware's own unit tests, tests/hw/hw_test_access.h) can make
// one; VMM code cannot name a way to obtain it.
class PspPasskey {
  friend class cvmsim::psp::Psp;
  friend struct HardwareTestAccess;
  constexpr PspPasskey() = default;
};

// Who makes an access. page_walker: the hardware NPT walker; it reads tables without a key
// and has no privilege (isolated NPT frames are write-blocked, not read-blocked).
enum class Initiator : std::uint8_t { host_cpu, guest_cpu, dma, psp, page_walker };

// An access's initiator and the key slot it uses. Unkeyed host, DMA and walker requesters
// are free for anyone; a requester that uses a VM's key slot (a vCPU of that VM, a DMA
// descriptor programmed for its ASID) or that speaks as the PSP (guards do not apply) can
// only be minted with a PspPasskey. So the VMM cannot read a VM's memory through its key
// or bypass the isolate-mode write block by claiming to be the PSP.
class Requester {
 public:
  static constexpr Requester host() { return {Initiator::host_cpu, 0}; }
  static constexpr Requester dma() { return {Initiator::dma, 0}; }
  static constexpr Requester walker() { return {Initiator::page_walker, 0}; }
  // A guest vCPU or DMA engine using `key_asid`'s key slot (0: shared/unencrypted).
  static constexpr Requester keyed(PspPasskey, Initiator who, std::uint32_t key_asid) {
    return {who, key_asid};
  }
  // The PSP itself, optionally through a VM's key slot.
  static constexpr Requester psp(PspPasskey, std::uint32_t key_asid = 0) {
    return {Initiator::psp, key_asid};
  }
  [[nodiscard]] constexpr Initiator who() const noexcept { return who_; }
  [[nodiscard]] constexpr std::uint32_t key_asid() const noexcept { return key_asid_; }
  // The same initiator without its key (e.g. a vCPU's access through a shared NPT entry).
  [[nodiscard]] constexpr Requester unkeyed() const noexcept { return {who_, 0}; }
  constexpr bool operator==(const Requester&) const = default;

 private:
  constexpr Requester(Initiator who, std::uint32_t key_asid) : who_(who), key_asid_(key_asid) {}
  Initiator who_;
  std::uint32_t key_asid_;
};

inline constexpr Requester kHostAccess = Requester::host();

enum class FrameUse : std::uint8_t { host = 0, guest = 1, npt = 2, psp = 3, merkle = 4 };

enum class FrameGuard : std::uint8_t {
  none = 0,
  write_blocked = 1,  // only the PSP may write (NPT frames in isolate mode, Merkle nodes)
  no_access = 2,      // only the PSP may read or write (PSP-private frames)
};

// What the memory controller enforces for the frames kept under one VM's key slot, beyond
// encryption. "Foreign" requesters are all but the PSP and those using that key slot (the
// VM's vCPUs, DMA the PSP programmed for the VM): the host CPU, unkeyed DMA, a vCPU
// through a shared entry, another VM's vCPU.
struct SlotProtection {
  // Policy memory-integrity: foreign writes are refused (HwError{access_denied}, traced as
  // `write_blocked`), as SEV-SNP's RMP refuses the hypervisor's writes to assigned pages.
  bool refuse_foreign_writes = false;
  // Policy ciphertext-hiding: foreign reads return kHiddenCiphertextByte in every byte
  // instead of the DRAM content, so equal plaintexts no longer show as equal ciphertext.
  bool hide_ciphertext = false;
  bool operator==(const SlotProtection&) const = default;
};

// What a foreign read of a frame under ciphertext hiding returns, in every byte.
inline constexpr std::uint8_t kHiddenCiphertextByte = 0xff;

struct FrameTag {
  std::uint32_t asid = 0;   // key slot the plaintext is kept under (0: unencrypted)
  std::uint32_t owner = 0;  // VM handle for guest/npt frames (0: none)
  FrameUse use = FrameUse::host;
  FrameGuard guard = FrameGuard::none;
  bool operator==(const FrameTag&) const = default;
};

// How set_tag_zeroed() puts the zeros in. `release` hands the frames' host pages back (one
// system call per run; the next touch of each page faults a zeroed one in): for frames
// that may stay untouched. `in_place` writes the zeros: for frames the host keeps resident
// and the PSP writes next (NPT and Merkle frames), where a page fault costs far more than
// the write (tens of microseconds per fault on a virtualised host: docs/benchmarks.md,
// "Fresh-block faults").
enum class Zeroing : std::uint8_t { release, in_place };

class MemoryController {
 public:
  MemoryController(HostMemory& memory, crypto::SuiteId suite, bool strict = false);

  // Reads/writes may span frames. Throws HwError{access_denied} when the frame's guard
  // refuses the initiator, HwError{bad_address} outside memory, HwError{no_key} when the
  // access names a key slot without a key.
  void read(std::uint64_t hpa, MutableByteView out, Requester who);
  void write(std::uint64_t hpa, ByteView data, Requester who);

  [[nodiscard]] FrameTag tag(std::uint64_t hpa) const;
  // Host addresses of every frame whose tag names `owner` (the frame-tag table is
  // hardware state, like SNP's RMP, so reading it is not privileged).
  [[nodiscard]] std::vector<std::uint64_t> frames_of(std::uint32_t owner) const;
  [[nodiscard]] bool has_key(std::uint32_t asid) const { return keys_.contains(asid); }
  // The protections of a key slot (none for slot 0 or an empty slot).
  [[nodiscard]] SlotProtection protection(std::uint32_t asid) const;
  [[nodiscard]] crypto::SuiteId suite() const noexcept { return suite_; }
  [[nodiscard]] bool strict() const noexcept { return strict_; }
  // Plaintext pointer to a frame for an access that needs no conversion (its key slot is
  // the frame's and the guard allows it), else nullptr. The guest CPU maps these directly.
  std::uint8_t* direct_frame(std::uint64_t hpa, Requester who, bool for_write);
  HostMemory& memory() noexcept { return memory_; }
  // For a device that fills whole frames in place (the disk controller's crypto
  // coprocessor decrypting straight into guest memory, without a bounce copy): the storage
  // of the frame at `hpa` exactly as write() would update it for `who`, or nullptr where
  // write() has to convert (strict mode, a frame kept under another key slot). Throws as
  // write() does when the frame's guard refuses `who`. Call it on one thread (it may
  // allocate the frame); filling distinct frames' bytes may then run on several. The
  // device reports what it filled with device_wrote(), which tells the write observers
  // as write() does.
  std::uint8_t* device_frame(std::uint64_t hpa, Requester who);
  void device_wrote(std::uint64_t hpa, std::uint64_t length);

  // Called after every write() with the HPA range written, whoever wrote it, and after a
  // key or tag change re-encodes a frame. The guest CPU uses it to drop code it translated
  // from those bytes (its own stores through mapped regions bypass the controller and are
  // tracked by the emulator itself).
  using WriteObserver = std::function<void(std::uint64_t hpa, std::uint64_t length)>;
  std::uint64_t add_write_observer(WriteObserver observer);
  void remove_write_observer(std::uint64_t id);
  // Called after frames' tags change (a frame scrubbed and handed back, given to a VM,
  // re-keyed): a vCPU that aliases a frame's stored bytes must stop using that alias, or
  // it would read the new owner's plaintext (hw/cpu/window_tlb.h).
  using TagObserver = std::function<void(std::uint64_t hpa, std::uint64_t length)>;
  std::uint64_t add_tag_observer(TagObserver observer);
  void remove_tag_observer(std::uint64_t id);

  // Records key loads and clears in the platform's event trace (null: off).
  void set_trace(trace::Recorder* recorder) { trace_ = recorder; }

  // --- privileged port ----------------------------------------------------------------
  // Loading a key into a slot that still tags frames first turns those frames into raw
  // ciphertext under the old key (their DRAM content does not change). The slot's
  // protections hold until the key is cleared or replaced.
  void load_key(PspPasskey, std::uint32_t asid, ByteView key, SlotProtection protection = {});
  void clear_key(PspPasskey, std::uint32_t asid);
  // Re-tags a frame without changing its DRAM content as seen through its new key slot's
  // eyes: the PSP uses it on frames it has just written or scrubbed.
  void set_tag(PspPasskey, std::uint64_t hpa, FrameTag tag);
  // Re-tags `frames` frames from `hpa` and fills them with zeros as seen through their new
  // key slot: set_tag() followed by a write of zeros, without converting the old content
  // first (a PSP handing a frame to a VM scrubs it anyway). `how` changes the cost, not
  // what anyone reads afterwards.
  void set_tag_zeroed(PspPasskey, std::uint64_t hpa, FrameTag tag, std::uint64_t frames = 1,
                      Zeroing how = Zeroing::release);

 private:
  const crypto::XtsCipher& key(std::uint32_t asid) const;
  void trace_key(const char* what, std::uint32_t asid);  // a key slot change, when tracing
  void notify_write(std::uint64_t hpa, std::uint64_t length);
  void notify_retag(std::uint64_t hpa, std::uint64_t length);
  void check_guard(const FrameTag& tag, Requester who, bool write, std::uint64_t hpa) const;
  // The protections that apply to `who`'s access of a frame tagged `tag`: its slot's, when
  // `who` is foreign to the slot (above), else none.
  [[nodiscard]] SlotProtection foreign_protection(const FrameTag& tag, Requester who) const;
  // Whether `hpa` is the alias address of another frame's cells (hw/dram_alias.h).
  [[nodiscard]] bool is_alias(std::uint64_t hpa) const noexcept;
  // Whether a frame's stored bytes are exactly what `who` reads and writes (the fast path:
  // no conversion through the DRAM image).
  [[nodiscard]] bool stored_as_seen_by(const FrameTag& tag, Requester who) const noexcept {
    return !strict_ && who.key_asid() == tag.asid;
  }
  // Whole-frame DRAM image and its inverse, for the conversions.
  Bytes dram_of(std::uint64_t frame_hpa, const FrameTag& tag);
  void store_dram(std::uint64_t frame_hpa, const FrameTag& tag, ByteView dram);
  void access_frame(std::uint64_t frame_hpa, std::size_t offset, MutableByteView out, ByteView in,
                    Requester who, bool write);

  HostMemory& memory_;
  crypto::SuiteId suite_;
  bool strict_;
  bool aliased_;  // the platform has DRAM aliases: only then does any access look them up
  // The tags of one 2 MiB chunk's frames; chunks never re-tagged have none (all host).
  using ChunkTags = std::array<FrameTag, kChunkSize / kFrameSize>;
  void store_tag(std::uint64_t frame_hpa, const FrameTag& tag);
  SlabArena tag_chunks_{sizeof(ChunkTags), alignof(ChunkTags)};  // owns every ChunkTags
  SparseTable<ChunkTags*> tags_;                                 // by chunk number
  std::unordered_map<std::uint32_t, std::unique_ptr<crypto::XtsCipher>> keys_;
  std::unordered_map<std::uint32_t, SlotProtection> protections_;  // slots with any
  std::map<std::uint64_t, WriteObserver> observers_;
  std::map<std::uint64_t, TagObserver> tag_observers_;
  std::uint64_t next_observer_ = 1;
  trace::Recorder* trace_ = nullptr;
};

}  // namespace cvmsim::hw
