#include "trace/event_text.h"

#include <fmt/format.h>

#include <algorithm>

namespace cvmsim::trace {

std::string format_sim_ns(std::uint64_t ns) {
  if (ns < 1'000) return fmt::format("{} ns", ns);
  if (ns < 1'000'000) return fmt::format("{}.{:03} us", ns / 1'000, ns % 1'000);
  if (ns < 1'000'000'000) return fmt::format("{}.{:06} ms", ns / 1'000'000, ns % 1'000'000);
  return fmt::format("{}.{:09} s", ns / 1'000'000'000, ns % 1'000'000'000);
}

nlohmann::json event_to_json(const Event& event) {
  return {{"seq", event.seq},
          {"sim_ns", event.sim_ns},
          {"actor", to_string(event.actor)},
          {"target", event.target ? nlohmann::json(to_string(*event.target)) : nullptr},
          {"name", event.name},
          {"category", event.category},
          {"vm", event.vm},
          {"asid", event.asid},
          {"args", event.args}};
}

std::string compact_json(const nlohmann::json& value) {
  // ASCII only, so text from a trace file cannot smuggle terminal control sequences; events
  // recorded in memory may hold bytes that are not UTF-8, and a message must still print.
  return value.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string display_token(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '"';
  });
  return plain ? s : compact_json(s);
}

std::string format_event_line(const Event& event) {
  std::string line =
      fmt::format("#{}  {}  {}", event.seq, format_sim_ns(event.sim_ns), to_string(event.actor));
  if (event.target) line += fmt::format(" -> {}", to_string(*event.target));
  line += fmt::format("  {} [{}] vm={} asid={}", display_token(event.name),
                      display_token(event.category), event.vm, event.asid);
  if (!event.args.empty()) line += " " + compact_json(event.args);
  return line;
}

std::string event_status(const Event& event) {
  if (!event.args.is_object()) return "";
  const auto it = event.args.find("status");
  if (it == event.args.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return compact_json(*it);
}

}  // namespace cvmsim::trace
