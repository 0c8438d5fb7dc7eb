#include "hw/dram_alias.h"

#include <fmt/format.h>

#include <charconv>

#include "common/checked.h"
#include "hw/host_memory.h"
#include "hw/hw_error.h"

namespace cvmsim::hw {
namespace {

// Whether [x, x + xl) and [y, y + yl) share an address (both inside memory: no overflow).
bool meets(std::uint64_t x, std::uint64_t xl, std::uint64_t y, std::uint64_t yl) {
  return x < y + yl && y < x + xl;
}

[[noreturn]] void refuse_alias(const std::string& what) {
  throw HwError(HwErrc::bad_address, what);
}

std::uint64_t parse_number(std::string_view text, std::string_view field,
                           const std::string& whole) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    refuse_alias(
        fmt::format("DRAM alias '{}': {} is not a number (decimal or 0x hex)", whole, field));
  }
  return value;
}

}  // namespace

void check_dram_aliases(std::span<const DramAlias> aliases, std::uint64_t memory_size) {
  for (std::size_t i = 0; i < aliases.size(); ++i) {
    const DramAlias& a = aliases[i];
    const std::string name =
        fmt::format("DRAM alias {:#x}:{:#x}:{:#x}", a.alias, a.target, a.length);
    if (a.length == 0 || a.alias % kFrameSize != 0 || a.target % kFrameSize != 0 ||
        a.length % kFrameSize != 0) {
      refuse_alias(name + ": addresses and length must be non-zero multiples of 4 KiB (frames)");
    }
    const auto alias_end = add_checked(a.alias, a.length);
    const auto target_end = add_checked(a.target, a.length);
    if (!alias_end || !target_end || *alias_end > memory_size || *target_end > memory_size) {
      refuse_alias(fmt::format("{}: outside the {:#x}-byte host memory", name, memory_size));
    }
    if (meets(a.alias, a.length, a.target, a.length)) {
      refuse_alias(name + ": the alias overlaps its target");
    }
    for (std::size_t j = 0; j < i; ++j) {
      const DramAlias& b = aliases[j];
      if (meets(a.alias, a.length, b.alias, b.length) ||
          meets(a.alias, a.length, b.target, b.length) ||
          meets(a.target, a.length, b.alias, b.length)) {
        refuse_alias(name +
                     ": overlaps another alias (an address reaches at most one other's cells)");
      }
    }
  }
}

DramAlias parse_dram_alias(const std::string& text) {
  const auto first = text.find(':');
  const auto second = first == std::string::npos ? first : text.find(':', first + 1);
  if (second == std::string::npos || text.find(':', second + 1) != std::string::npos) {
    refuse_alias(fmt::format("DRAM alias '{}': expected ALIAS:TARGET:LENGTH", text));
  }
  const std::string_view all(text);
  return {parse_number(all.substr(0, first), "ALIAS", text),
          parse_number(all.substr(first + 1, second - first - 1), "TARGET", text),
          parse_number(all.substr(second + 1), "LENGTH", text)};
}

}  // namespace cvmsim::hw
