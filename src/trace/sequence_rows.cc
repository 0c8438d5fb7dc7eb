#include "trace/sequence_rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include "trace/event_text.h"

namespace cvmsim::trace {
namespace {

// Arguments worth a place in a one-line label, most telling first; others follow by name.
constexpr std::array<std::string_view, 12> kKeyArgs = {"gpa",     "hpa",     "pages",  "lba",
                                                       "sectors", "dir",     "vector", "reason",
                                                       "detail",  "command", "bytes",  "count"};
// Arguments that are addresses read best in hex.
constexpr std::array<std::string_view, 5> kAddressArgs = {"gpa", "hpa", "gva", "addr", "address"};
constexpr std::size_t kMaxLabelArgs = 3;
constexpr std::size_t kMaxArgChars = 24;

bool contains(const auto& list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

bool alike(const Event& a, const Event& b) {
  return a.actor == b.actor && a.target == b.target && a.name == b.name && a.vm == b.vm &&
         event_status(a) == event_status(b);
}

// A scalar argument as label text; none for objects, arrays and null.
std::optional<std::string> arg_text(std::string_view key, const nlohmann::json& value) {
  // Events built in memory may hold addresses as signed integers; read back they are
  // unsigned. Both must label alike.
  const bool non_negative =
      value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
  if (non_negative && contains(kAddressArgs, key)) {
    return fmt::format("{:#x}", value.is_number_unsigned()
                                    ? value.get<std::uint64_t>()
                                    : static_cast<std::uint64_t>(value.get<std::int64_t>()));
  }
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (s.size() > kMaxArgChars) {
      s.resize(kMaxArgChars);
      s += "...";
    }
    return s;
  }
  if (value.is_number() || value.is_boolean()) return compact_json(value);
  return std::nullopt;
}

}  // namespace

DiagramRows collapse_rows(const std::vector<Event>& events, std::size_t max_rows) {
  DiagramRows out;
  std::size_t i = 0;
  while (i < events.size() && out.rows.size() < max_rows) {
    std::size_t end = i + 1;
    while (end < events.size() && alike(events[i], events[end])) ++end;
    out.rows.push_back({i, end - i});
    i = end;
  }
  out.omitted_events = events.size() - i;
  return out;
}

bool row_refused(const std::vector<Event>& events, const DiagramRow& row) {
  const std::string status = event_status(events.at(row.first));
  return !status.empty() && status != "success";
}

std::string row_label(const std::vector<Event>& events, const DiagramRow& row) {
  const Event& e = events.at(row.first);
  std::string label = e.name;
  if (row.count > 1) label += fmt::format(" \u00d7{}", row.count);
  if (row_refused(events, row)) label += " status=" + event_status(e);
  if (row.count == 1 && e.args.is_object()) {
    std::vector<std::string> parts;
    auto add = [&](std::string_view key) {
      const auto it = e.args.find(key);
      if (parts.size() >= kMaxLabelArgs || it == e.args.end()) return;
      if (auto text = arg_text(key, *it)) parts.push_back(fmt::format("{}={}", key, *text));
    };
    for (std::string_view key : kKeyArgs) add(key);
    for (const auto& [key, value] : e.args.items()) {
      if (key != "status" && !contains(kKeyArgs, key)) add(key);
    }
    for (const std::string& p : parts) label += " " + p;
  }
  if (e.vm != 0) label += fmt::format(" (vm {})", e.vm);
  return label;
}

}  // namespace cvmsim::trace
