#include "lab/explore/action.h"

#include <fmt/format.h>

namespace cvmsim::lab::explore {
namespace {

std::string frame_name(const FrameRef& f) {
  switch (f.kind) {
    case FrameRef::Kind::pool:
      return fmt::format("pool[{}]", f.index);
    case FrameRef::Kind::npt_root:
      return fmt::format("root(vm{})", f.index);
    case FrameRef::Kind::launch_page:
      return fmt::format("firmware(vm{})", f.index);
  }
  return "?";
}

constexpr std::uint8_t kKinds = 9;

}  // namespace

std::string to_string(const Action& a) {
  switch (a.kind) {
    case Action::Kind::map:
      return fmt::format("NPT_MAP vm{} page{} -> {}", a.vm, a.page, frame_name(a.frame));
    case Action::Kind::unmap:
      return fmt::format("NPT_UNMAP vm{} page{}", a.vm, a.page);
    case Action::Kind::donate:
      return fmt::format("NPT_DONATE vm{} {}", a.vm, frame_name(a.frame));
    case Action::Kind::stop:
      return fmt::format("VM_STOP vm{}", a.vm);
    case Action::Kind::decommission:
      return fmt::format("DECOMMISSION vm{}", a.vm);
    case Action::Kind::tamper_npt:
      return fmt::format("host flips root(vm{}) entry {}", a.vm, a.entry);
    case Action::Kind::write_frame:
      return fmt::format("host writes {} at {}", frame_name(a.frame), a.entry);
    case Action::Kind::tick:
      return "timer tick";
    case Action::Kind::track:
      return fmt::format("TLB_TRACK vm{}", a.vm);
  }
  return "?";
}

std::string to_string(const std::vector<Action>& sequence) {
  std::string out;
  for (std::size_t i = 0; i < sequence.size(); ++i) {
    out += fmt::format("{}{}. {}", i == 0 ? "" : "\n", i + 1, to_string(sequence[i]));
  }
  return out;
}

// Byte 0: kind (low 4 bits) and VM slot (the bits above); byte 1: page (low 3 bits) and
// frame kind (next 2 bits); byte 2: frame index or entry.
std::vector<Action> decode_actions(ByteView bytes, std::size_t vms, std::size_t pages,
                                   std::size_t pool) {
  std::vector<Action> actions;
  for (std::size_t at = 0; at + 3 <= bytes.size(); at += 3) {
    Action a;
    a.kind = static_cast<Action::Kind>((bytes[at] & 0x0f) % kKinds);
    a.vm = static_cast<std::uint8_t>((bytes[at] >> 4) % vms);
    a.page = static_cast<std::uint8_t>(bytes[at + 1] % pages);
    // Fields an action does not use stay at their defaults, so equal actions compare equal.
    if (a.kind == Action::Kind::map || a.kind == Action::Kind::donate ||
        a.kind == Action::Kind::write_frame) {
      a.frame.kind = static_cast<FrameRef::Kind>((bytes[at + 1] >> 3) % 3);
      a.frame.index = static_cast<std::uint8_t>(
          a.frame.kind == FrameRef::Kind::pool ? bytes[at + 2] % pool : bytes[at + 2] % vms);
    }
    if (a.kind == Action::Kind::tamper_npt || a.kind == Action::Kind::write_frame) {
      a.entry = bytes[at + 2];
    }
    actions.push_back(a);
  }
  return actions;
}

Bytes encode_actions(const std::vector<Action>& actions) {
  Bytes out;
  for (const Action& a : actions) {
    out.push_back(static_cast<std::uint8_t>(static_cast<unsigned>(a.kind) | a.vm << 4));
    out.push_back(static_cast<std::uint8_t>(a.page | static_cast<unsigned>(a.frame.kind) << 3));
    // write_frame's one byte is its offset, from which decoding also takes its frame index.
    const bool indexed = a.kind == Action::Kind::map || a.kind == Action::Kind::donate;
    out.push_back(static_cast<std::uint8_t>(indexed ? a.frame.index : a.entry));
  }
  return out;
}

std::vector<Action> exploration_alphabet(std::size_t vms) {
  std::vector<Action> alphabet;
  for (std::uint8_t vm = 0; vm < vms; ++vm) {
    const auto other = static_cast<std::uint8_t>((vm + 1) % vms);
    alphabet.push_back({Action::Kind::map, vm, 0, {FrameRef::Kind::pool, 0}, 0});
    alphabet.push_back({Action::Kind::map, vm, 0, {FrameRef::Kind::pool, 1}, 0});
    alphabet.push_back({Action::Kind::map, vm, 0, {FrameRef::Kind::npt_root, other}, 0});
    alphabet.push_back({Action::Kind::unmap, vm, 0, {}, 0});
    alphabet.push_back({Action::Kind::track, vm, 0, {}, 0});
    alphabet.push_back({Action::Kind::stop, vm, 0, {}, 0});
    alphabet.push_back({Action::Kind::decommission, vm, 0, {}, 0});
    alphabet.push_back({Action::Kind::tamper_npt, vm, 0, {}, 0});
  }
  alphabet.push_back({Action::Kind::tick, 0, 0, {}, 0});
  return alphabet;
}

}  // namespace cvmsim::lab::explore
