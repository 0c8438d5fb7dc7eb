// The disk controller with its crypto coprocessor and DMA engine.
//
// Ports connect backing files (the host plugs disks in: unprivileged). Keyslots hold an
// image key with the parameters the PSP took from a verified image certificate, bound to
// one port and one memory key slot (ASID). DMA moves whole transfers between a port and a
// scatter list of host frames: on a keyed transfer the crypto coprocessor decrypts sectors
// read from the file (or encrypts sectors written to it) with the keyslot's key, and the
// memory side goes through the memory controller with the descriptor's requester, so the
// encryption engine re-encrypts with the VM's key (no side door around it; where
// the controller keeps a frame as plaintext under that key, the coprocessor decrypts into
// the frame's storage it hands out, with the same guard checks and write reports).
// Programming keyslots and starting DMA take a PspPasskey: only the PSP can do either.
// Keyslots of authenticated images (a tag area) also hold the image's verified tags in a
// hash tree (crypto/sector_tags.h): a read checks every sector against its tag before it
// decrypts, and a write replaces the sectors' tags, in the file and in the tree.
// Each completion raises the controller's interrupt line: the interrupt waits in the
// controller until the host's interrupt controller collects it (take_interrupts), so the
// hardware never calls into the VMM while the PSP is running a command.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "crypto/sector_tags.h"
#include "crypto/suite_id.h"
#include "crypto/xts.h"
#include "hw/disk/block_file.h"
#include "hw/disk/dma.h"
#include "hw/memory_controller.h"
#include "trace/trace.h"

namespace cvmsim {
class HelperThread;
}

namespace cvmsim::hw {

inline constexpr std::uint32_t kDiskKeyslots = 64;

struct DiskStats {
  std::uint64_t transfers = 0;
  std::uint64_t bytes_to_memory = 0;
  std::uint64_t bytes_to_disk = 0;
  std::uint64_t sectors_decrypted = 0;
  std::uint64_t sectors_encrypted = 0;
  std::uint64_t interrupts = 0;
  std::uint64_t interrupts_lost = 0;  // overwritten before the host collected them
  std::uint64_t flushes = 0;
  std::uint64_t sectors_tag_checked = 0;  // authenticated reads: sectors checked
  std::uint64_t tag_mismatches = 0;       // reads refused because a sector's tag failed
};

class DiskController {
 public:
  explicit DiskController(MemoryController& mc);
  DiskController(const DiskController&) = delete;
  DiskController& operator=(const DiskController&) = delete;
  ~DiskController();

  // --- host side (unprivileged) ---------------------------------------------------
  // Plugs a backing file in; returns its port. Throws HwError{io}.
  std::uint32_t attach(const std::filesystem::path& path, bool writable);
  void detach(std::uint32_t port);
  // The raw file behind a port: the untrusted host can read and write it at will (it
  // holds only ciphertext of the data segment). Throws HwError{bad_dma} for a bad port.
  BlockFile& backing(std::uint32_t port);
  [[nodiscard]] bool has_port(std::uint32_t port) const { return ports_.contains(port); }
  // Whether the port's file was attached for writing (false for an unknown port).
  [[nodiscard]] bool port_writable(std::uint32_t port) const {
    const auto it = ports_.find(port);
    return it != ports_.end() && it->second.writable();
  }
  // The interrupts raised since the last call, oldest first: one per finished (or failed)
  // transfer and flush. The controller keeps at most kMaxRaisedInterrupts uncollected
  // ones (a ring, as hardware's is): older ones are lost and counted.
  std::vector<DiskInterrupt> take_interrupts();
  static constexpr std::size_t kMaxRaisedInterrupts = 4096;
  [[nodiscard]] const DiskStats& stats() const noexcept { return stats_; }
  // Records keyslot programming, transfers and completions in the event trace (null: off).
  void set_trace(trace::Recorder* recorder) { trace_ = recorder; }

  // --- privileged port (the PSP) --------------------------------------------------
  // Throws HwError{bad_dma} for a bad slot, port, sector size or segment.
  void program_keyslot(PspPasskey, std::uint32_t slot, const DiskKeyslot& config);
  void clear_keyslot(PspPasskey, std::uint32_t slot);
  [[nodiscard]] bool keyslot_loaded(std::uint32_t slot) const;
  // The verdict run_dma would give the descriptor's file side (check_extent against the
  // keyslot it names and the port's disk), without moving anything.
  [[nodiscard]] DmaVerdict check(PspPasskey, const DmaDescriptor& descriptor) const;
  // Runs one transfer to completion and raises the interrupt line. The controller checks
  // the whole descriptor (check_extent, check_frames) before moving anything; a refused or
  // failed transfer reports its fault and leaves the file unchanged where the failure came
  // before the write.
  DmaCompletion run_dma(PspPasskey, std::uint64_t tag, const DmaDescriptor& descriptor);
  // A flush request: earlier writes to the port's file become durable; then the interrupt.
  DmaCompletion flush(PspPasskey, std::uint64_t tag, std::uint32_t port);

  // --- authenticated images (keyslots with a tag area) ----------------------------
  // The root of the slot's tag tree: computed from the file's tags when the slot was
  // programmed, kept current by writes since. Empty for a slot without tags.
  [[nodiscard]] Bytes tag_root(PspPasskey, std::uint32_t slot) const;
  // A write to an authenticated image, in two steps so that the PSP can record it in its
  // non-volatile storage before anything reaches the disk (docs/architecture.md, "Disk
  // writes and crashes"). stage_write checks the descriptor, reads the frames, encrypts
  // and tags the sectors, and says what the write will change (or completes with the
  // fault, raising the interrupt). Then exactly one of: commit_write writes the sectors,
  // then their tags, updates the tree and raises the interrupt; cancel_write drops the
  // staged write (fault aborted, interrupt). Other transfers wait for the staged one.
  struct StagedWrite {
    std::uint64_t first_sector = 0;
    Bytes old_tags;  // crypto::kSectorTagSize bytes per sector
    Bytes new_tags;
    Bytes new_root;
  };
  std::variant<StagedWrite, DmaCompletion> stage_write(PspPasskey, std::uint64_t tag,
                                                       const DmaDescriptor& descriptor);
  DmaCompletion commit_write(PspPasskey);
  DmaCompletion cancel_write(PspPasskey);
  // The next boot after a crash cut a staged write short. With the sectors' old tags in
  // place the tree must give `committed_root` (the root before the write); then each
  // sector keeps the tag it matches, new or old (kill -9 never tears a sector), and the
  // chosen tags are written back to the file when the port is writable.
  enum class Settle : std::uint8_t { settled, root_mismatch, unsettled, io_failed };
  struct SettleResult {
    Settle outcome = Settle::settled;
    std::uint64_t sector = 0;  // unsettled: the sector that matched neither tag
  };
  SettleResult settle_write(PspPasskey, std::uint32_t slot, std::uint64_t first_sector,
                            ByteView old_tags, ByteView new_tags, ByteView committed_root);

 private:
  struct Slot {
    DiskKeyslot config;
    std::unique_ptr<crypto::XtsCipher> cipher;
    std::optional<crypto::TagTree> tree;  // authenticated images: the verified tags
    // One tagger per lane of a bulk transfer (a tagger is single-threaded).
    std::array<std::unique_ptr<crypto::SectorTagger>, 2> taggers;
  };
  struct Staged {
    DmaDescriptor descriptor;  // without frames: the memory side is done
    Slot* slot = nullptr;
    std::uint64_t offset = 0;  // in the file
    std::uint64_t tag = 0;
    Bytes new_tags;
  };
  // The port and keyslot a descriptor names, and check_extent against them. Accepted:
  // `slot` is the keyslot (null: raw), `offset` where the transfer starts in the file.
  DmaVerdict check_file_side(const DmaDescriptor& d, const Slot*& slot,
                             std::uint64_t& offset) const;
  // Writes the transfer's frames from `data` (the whole transfer).
  void copy_to_memory(const DmaDescriptor& d, ByteView data);
  // Reads the transfer's sectors at `offset` of `file` into `data` and decrypts them into
  // guest memory. With tags, all sectors are checked before any is decrypted: returns the
  // first sector that does not match its tag (and memory is untouched), or none.
  std::optional<std::uint64_t> read_decrypt_to_memory(const DmaDescriptor& d, Slot& slot,
                                                      const BlockFile& file, std::uint64_t offset,
                                                      MutableByteView data);
  // Runs job(first, last) over frames [0, frames): bulk transfers split in two halves,
  // the second on the helper core (job(…, lane) gets 0 or 1).
  void on_lanes(std::size_t frames,
                const std::function<void(std::size_t, std::size_t, std::size_t)>& job);
  // Where the crypto coprocessor may put each frame's plaintext itself (the memory
  // controller's device_frame(); nullptr: through write()). Throws before anything is
  // written when a frame's guard refuses the descriptor's requester.
  std::vector<std::uint8_t*> frame_targets(const DmaDescriptor& d);
  // Decrypts frames [first, last) of the transfer's ciphertext in `data`: straight into
  // their targets, or in place where a frame has none. Touches only those frames, so two
  // threads may decrypt disjoint ranges at once.
  static void decrypt_frames(const DmaDescriptor& d, const Slot& slot, MutableByteView data,
                             const std::vector<std::uint8_t*>& targets, std::size_t first,
                             std::size_t last);
  // After decrypt_frames: writes the frames without a target through the memory
  // controller and reports the others to it (its write observers).
  void finish_frames(const DmaDescriptor& d, ByteView data,
                     const std::vector<std::uint8_t*>& targets);
  void copy_from_memory(const DmaDescriptor& d, MutableByteView data);
  MutableByteView staging(std::size_t length);
  // Moves the data of a checked descriptor. Throws HwError{io} when the file fails and
  // the memory controller's errors when it refuses a frame. Returns a read's tag verdict.
  std::optional<std::uint64_t> transfer(const DmaDescriptor& d, Slot* slot, std::uint64_t offset);
  // The checked file side of `d` (run_dma and stage_write), or its refusal.
  DmaVerdict checked_slot(const DmaDescriptor& d, Slot*& slot, std::uint64_t& offset);
  // stage_write's work after the checks: throws as transfer() does.
  StagedWrite stage(const DmaDescriptor& d, Slot& slot, std::uint64_t offset, std::uint64_t tag);
  DmaCompletion complete(DmaCompletion done);
  // Reads the file's tag area into a new slot's tree (program_keyslot).
  void load_tags(std::uint32_t slot, Slot& entry);
  // Writes the staged sectors, then their tags, and updates the tree; ends the staging.
  void write_staged();
  void trace_transfer(std::uint64_t tag, const DmaDescriptor& descriptor);

  MemoryController& mc_;
  std::map<std::uint32_t, BlockFile> ports_;
  std::uint32_t next_port_ = 0;
  std::array<std::unique_ptr<Slot>, kDiskKeyslots> slots_{};
  std::deque<DiskInterrupt> raised_;  // the ring: oldest first
  std::optional<Staged> staged_;      // a write between stage_write and commit/cancel
  DiskStats stats_;
  trace::Recorder* trace_ = nullptr;
  // The controller's transfer buffer (a device's own SRAM), reused by every transfer:
  // allocating and zeroing a fresh megabyte per transfer cost more than the copy itself.
  Bytes staging_;
  // Transfers of at least this many frames are decrypted on two cores.
  static constexpr std::size_t kParallelFrames = 64;  // 256 KiB
  bool two_cores_;                        // read once: the machine has a core for the helper
  std::unique_ptr<HelperThread> helper_;  // the second core's lane, started on first use
};

}  // namespace cvmsim::hw
