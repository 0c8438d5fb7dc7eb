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
// Each completion raises the controller's interrupt line: the interrupt waits in the
// controller until the host's interrupt controller collects it (take_interrupts), so the
// hardware never calls into the VMM while the PSP is running a command.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
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

 private:
  struct Slot {
    DiskKeyslot config;
    std::unique_ptr<crypto::XtsCipher> cipher;
  };
  // The port and keyslot a descriptor names, and check_extent against them. Accepted:
  // `slot` is the keyslot (null: raw), `offset` where the transfer starts in the file.
  DmaVerdict check_file_side(const DmaDescriptor& d, const Slot*& slot,
                             std::uint64_t& offset) const;
  // Writes the transfer's frames from `data` (the whole transfer).
  void copy_to_memory(const DmaDescriptor& d, ByteView data);
  // Reads the transfer's sectors at `offset` of `file` into `data` and decrypts them into
  // guest memory.
  void read_decrypt_to_memory(const DmaDescriptor& d, const Slot& slot, const BlockFile& file,
                              std::uint64_t offset, MutableByteView data);
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
  // the memory controller's errors when it refuses a frame.
  void transfer(const DmaDescriptor& d, const Slot* slot, std::uint64_t offset);
  DmaCompletion complete(DmaCompletion done);

  MemoryController& mc_;
  std::map<std::uint32_t, BlockFile> ports_;
  std::uint32_t next_port_ = 0;
  std::array<std::unique_ptr<Slot>, kDiskKeyslots> slots_{};
  std::deque<DiskInterrupt> raised_;  // the ring: oldest first
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
