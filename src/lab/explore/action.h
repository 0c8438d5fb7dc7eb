// What the untrusted host may do to a small platform (src/lab/explore/small_world.h): the
// mailbox commands of a VMM, with arguments drawn from the world's own frames and guest
// pages (so that sequences meet each other's state), and the host's powers outside the
// mailbox: writing any frame as the host CPU and letting the PSP timer tick.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"

namespace cvmsim::lab::explore {

// Frames an action can name: the world's spare pool, then each VM's NPT root (a table
// frame a host might try to hand to a guest).
struct FrameRef {
  enum class Kind : std::uint8_t { pool, npt_root, launch_page } kind = Kind::pool;
  std::uint8_t index = 0;  // pool index, or the VM slot whose root/launch page
  bool operator==(const FrameRef&) const = default;
};

struct Action {
  enum class Kind : std::uint8_t {
    map,           // NPT_MAP vm, page, frame (1 page, read-write)
    unmap,         // NPT_UNMAP vm, page
    donate,        // NPT_DONATE vm, frame
    stop,          // VM_STOP vm
    decommission,  // DECOMMISSION vm
    tamper_npt,    // host CPU write: flips a bit of an entry in the VM's NPT root
    write_frame,   // host CPU write of a pattern into a frame (replayed or chosen bytes)
    tick,          // the PSP timer: one periodic-check interval passes
    track,         // TLB_TRACK vm
  } kind = Kind::tick;
  std::uint8_t vm = 0;    // VM slot
  std::uint8_t page = 0;  // guest page index (GPA kExploredGpa + page * 4 KiB)
  FrameRef frame;
  std::uint16_t entry = 0;  // tamper_npt: which root entry; write_frame: byte offset

  bool operator==(const Action&) const = default;
};

std::string to_string(const Action& action);
std::string to_string(const std::vector<Action>& sequence);

// Decodes a fuzzer's bytes into actions (3 bytes each; every byte string is a sequence).
std::vector<Action> decode_actions(ByteView bytes, std::size_t vms, std::size_t pages,
                                   std::size_t pool);
// The inverse, for corpora and reproducers (exact for the actions decoding produces).
Bytes encode_actions(const std::vector<Action>& actions);

// The bounded explorer's alphabet for `vms` VMs: map each VM's page 0 to either of two
// pool frames and to the other VM's root, unmap it, track its TLB, stop, decommission,
// tamper with the root, and tick (8 * vms + 1 actions; 17 for two VMs).
std::vector<Action> exploration_alphabet(std::size_t vms);

}  // namespace cvmsim::lab::explore
