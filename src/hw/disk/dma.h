// What the disk controller's DMA engine takes and gives back: keyslot programming, the
// descriptor of one transfer, and the one set of rules a descriptor must meet.
//
// The rules live here once (check_extent, check_frames). The controller enforces them on
// every transfer; the PSP asks the controller for the same verdict before it translates a
// guest's pages, so that a guest's bad request gets a precise status (invalid_parameter,
// invalid_address, ...) instead of a failed transfer, and no rule is written twice.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "abi/cvm_abi.h"
#include "common/bytes.h"
#include "crypto/suite_id.h"
#include "hw/memory_controller.h"

namespace cvmsim::hw {

// One descriptor moves at most a secure call's worth of data: the guest ABI's limit is the
// controller's.
inline constexpr std::uint64_t kMaxDmaBytes = CVM_DISK_MAX_BYTES;
inline constexpr std::uint64_t kRawSectorSize = 512;  // granularity of raw transfers

enum class DmaDirection : std::uint8_t { to_memory = 0, to_disk = 1 };

// What the PSP programs into a keyslot: everything the certificate binds.
struct DiskKeyslot {
  crypto::SuiteId suite = crypto::SuiteId::sm;
  Bytes key;  // the image key (XTS: two halves)
  std::uint32_t sector_size = 4096;
  std::uint64_t data_offset = 0;  // bytes from the start of the backing file
  std::uint64_t data_length = 0;  // bytes
  std::uint32_t port = 0;         // the only port this keyslot serves
  std::uint32_t bound_asid = 0;   // the only memory key slot its DMA may use (0: none)
  // An authenticated image: where its sector tags start in the file (32 bytes per data
  // sector, crypto/sector_tags.h). None: XTS only, no tags.
  std::optional<std::uint64_t> tag_offset;
};

struct DmaDescriptor {
  std::uint32_t port = 0;
  // The keyslot whose key the crypto coprocessor applies; none: a raw transfer of file
  // bytes (reading an image's header, which is not encrypted with the image key).
  std::optional<std::uint32_t> keyslot;
  // Keyed: the first sector, in the keyslot's sector size, from the data segment's start.
  // Raw: the byte offset in the file (a multiple of 512).
  std::uint64_t start = 0;
  std::uint64_t length = 0;  // bytes: a multiple of the sector size (keyed) or of 512 (raw)
  DmaDirection direction = DmaDirection::to_memory;
  std::vector<std::uint64_t> frames;    // host frames of the buffer, 4 KiB each, in order
  Requester memory = Requester::dma();  // the memory side (minted by the PSP with the ASID)
};

// Why the controller refused or failed a transfer. Names, not text: the verdict goes to
// the PSP, and nothing of it but "failed" reaches the host.
enum class DmaFault : std::uint8_t {
  none,
  // Refused before anything moved (check_extent, check_frames):
  no_disk,       // the port has no disk attached
  no_key,        // the keyslot holds no key
  wrong_port,    // the keyslot serves another port
  wrong_asid,    // the keyslot is bound to another memory key slot
  bad_length,    // zero bytes, or more than kMaxDmaBytes
  misaligned,    // not whole sectors (keyed) or 512-byte units (raw)
  out_of_range,  // past the data segment (keyed) or the end of the file (raw)
  raw_write,     // raw transfers to the disk are not allowed
  bad_frames,    // not one page-aligned frame per 4 KiB of the length
  // Failed while moving data:
  frame_refused,       // the memory controller refused a frame (its guard or key)
  io_failed,           // the backing file could not be read, written or synced
  coprocessor_failed,  // the crypto coprocessor's cipher failed
  tag_mismatch,        // a sector read does not match its tag: nothing reached memory
  aborted,             // the PSP cancelled a staged write: nothing reached the disk
};
std::string_view to_string(DmaFault fault);

struct DmaVerdict {
  DmaFault fault = DmaFault::none;
  std::uint64_t value = 0;  // refused: the offending field's value (start, length, frame)
  [[nodiscard]] bool ok() const noexcept { return fault == DmaFault::none; }
};

// The file side of a descriptor: keyslot binding (port, ASID), length, alignment and
// bounds, overflow-checked. `keyslot` is the programmed slot the descriptor names (null:
// a raw transfer), `disk_bytes` the size of the port's file. Accepted: `file_offset` is
// where the transfer starts in the file.
DmaVerdict check_extent(const DmaDescriptor& d, const DiskKeyslot* keyslot,
                        std::uint64_t disk_bytes, std::uint64_t& file_offset);
// The memory side: one page-aligned host frame per 4 KiB of the length.
DmaVerdict check_frames(const DmaDescriptor& d);

// What the PSP learns of a transfer it started.
struct DmaCompletion {
  std::uint64_t tag = 0;  // the PSP's request id
  std::uint32_t port = 0;
  DmaFault fault = DmaFault::none;
  std::uint64_t bytes = 0;
  std::uint64_t sector = 0;  // tag_mismatch: the first sector whose tag did not verify
  [[nodiscard]] bool ok() const noexcept { return fault == DmaFault::none; }
};

// What the controller's interrupt line tells the host: a port finished a transfer. The
// host's interrupt controller collects these (DiskController::take_interrupts) and the
// VMM routes them to the VM the port belongs to; whether the transfer worked is the
// PSP's to say, in the VM's private memory.
struct DiskInterrupt {
  std::uint32_t port = 0;
  std::uint64_t tag = 0;
  bool operator==(const DiskInterrupt&) const = default;
};

}  // namespace cvmsim::hw
