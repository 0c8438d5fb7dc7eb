#include "common/checked.h"
#include "hw/disk/dma.h"
#include "hw/host_memory.h"

namespace cvmsim::hw {

std::string_view to_string(DmaFault fault) {
  switch (fault) {
    case DmaFault::none:
      return "none";
    case DmaFault::no_disk:
      return "no_disk";
    case DmaFault::no_key:
      return "no_key";
    case DmaFault::wrong_port:
      return "wrong_port";
    case DmaFault::wrong_asid:
      return "wrong_asid";
    case DmaFault::bad_length:
      return "bad_length";
    case DmaFault::misaligned:
      return "misaligned";
    case DmaFault::out_of_range:
      return "out_of_range";
    case DmaFault::raw_write:
      return "raw_write";
    case DmaFault::bad_frames:
      return "bad_frames";
    case DmaFault::frame_refused:
      return "frame_refused";
    case DmaFault::io_failed:
      return "io_failed";
    case DmaFault::coprocessor_failed:
      return "coprocessor_failed";
    case DmaFault::tag_mismatch:
      return "tag_mismatch";
    case DmaFault::aborted:
      return "aborted";
  }
  return "?";
}

namespace {

DmaVerdict refused(DmaFault fault, std::uint64_t value) {
  return {fault, value};
}

DmaVerdict check_raw(const DmaDescriptor& d, std::uint64_t disk_bytes) {
  if (d.direction == DmaDirection::to_disk) return refused(DmaFault::raw_write, d.start);
  if (d.start % kRawSectorSize != 0) return refused(DmaFault::misaligned, d.start);
  if (d.length % kRawSectorSize != 0) return refused(DmaFault::misaligned, d.length);
  const auto end = add_checked(d.start, d.length);
  if (!end || *end > disk_bytes) return refused(DmaFault::out_of_range, d.start);
  return {};
}

DmaVerdict check_keyed(const DmaDescriptor& d, const DiskKeyslot& k) {
  if (k.port != d.port) return refused(DmaFault::wrong_port, d.port);
  if (d.memory.key_asid() != k.bound_asid) {
    return refused(DmaFault::wrong_asid, d.memory.key_asid());
  }
  if (d.length % k.sector_size != 0) return refused(DmaFault::misaligned, d.length);
  const std::uint64_t sectors = d.length / k.sector_size;
  const auto last = add_checked(d.start, sectors);
  if (!last || *last > k.data_length / k.sector_size) {
    return refused(DmaFault::out_of_range, d.start);
  }
  return {};
}

}  // namespace

DmaVerdict check_extent(const DmaDescriptor& d, const DiskKeyslot* keyslot,
                        std::uint64_t disk_bytes, std::uint64_t& file_offset) {
  if (d.length == 0 || d.length > kMaxDmaBytes) return refused(DmaFault::bad_length, d.length);
  const DmaVerdict verdict =
      keyslot == nullptr ? check_raw(d, disk_bytes) : check_keyed(d, *keyslot);
  if (!verdict.ok()) return verdict;
  // Bounded by the checks above: the segment lies inside the file (program_keyslot).
  file_offset =
      keyslot == nullptr ? d.start : keyslot->data_offset + d.start * keyslot->sector_size;
  return {};
}

DmaVerdict check_frames(const DmaDescriptor& d) {
  const std::uint64_t pages = (d.length + kFrameSize - 1) / kFrameSize;
  if (d.frames.size() != pages) return refused(DmaFault::bad_frames, d.frames.size());
  for (const std::uint64_t hpa : d.frames) {
    if (hpa % kFrameSize != 0) return refused(DmaFault::bad_frames, hpa);
  }
  return {};
}

}  // namespace cvmsim::hw
