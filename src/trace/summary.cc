#include "trace/summary.h"

#include <fmt/format.h>

#include "trace/event_text.h"

namespace cvmsim::trace {

Summary summarise(const std::vector<Event>& events) {
  Summary s;
  s.events = events.size();
  if (!events.empty()) {
    s.first_ns = events.front().sim_ns;
    s.last_ns = events.back().sim_ns;
  }
  for (const Event& e : events) {
    ++s.by_category[e.category];
    ++s.by_name[e.name];
    ++s.by_actor.at(static_cast<std::size_t>(e.actor));
    ++s.by_vm[e.vm];
    // Events without a status (a fault, a timer tick) are neither successes nor refusals.
    if (std::string status = event_status(e); !status.empty() && status != "success") {
      s.refusals.push_back({e.seq, e.sim_ns, e.actor, e.name, e.vm, std::move(status)});
    }
  }
  return s;
}

namespace {

void append_counts(std::string& out, std::string_view title,
                   const std::map<std::string, std::size_t>& counts) {
  out += fmt::format("{}:\n", title);
  for (const auto& [key, n] : counts) {
    out += fmt::format("  {:<24} {:>8}\n", display_token(key), n);
  }
}

}  // namespace

std::string format_summary_text(const Summary& s, std::size_t max_refusals) {
  std::string out = fmt::format("{} events", s.events);
  if (s.events > 0) {
    out += fmt::format(", simulated time {} .. {}", format_sim_ns(s.first_ns),
                       format_sim_ns(s.last_ns));
  }
  out += "\n";
  append_counts(out, "by category", s.by_category);
  append_counts(out, "by name", s.by_name);
  out += "by actor:\n";
  for (std::size_t i = 0; i < kActorCount; ++i) {
    if (s.by_actor[i] == 0) continue;
    out += fmt::format("  {:<24} {:>8}\n", to_string(static_cast<Actor>(i)), s.by_actor[i]);
  }
  out += "by vm:\n";
  for (const auto& [vm, n] : s.by_vm) {
    out += fmt::format("  {:<24} {:>8}\n",
                       vm == 0 ? std::string("platform (0)") : fmt::format("vm {}", vm), n);
  }
  out += fmt::format("refusals (status not success): {}\n", s.refusals.size());
  for (std::size_t i = 0; i < s.refusals.size() && i < max_refusals; ++i) {
    const Refusal& r = s.refusals[i];
    out += fmt::format("  #{}  {}  {} {} vm={} status={}\n", r.seq, format_sim_ns(r.sim_ns),
                       to_string(r.actor), display_token(r.name), r.vm, display_token(r.status));
  }
  if (s.refusals.size() > max_refusals) {
    out += fmt::format("  ... {} more (-o json lists all)\n", s.refusals.size() - max_refusals);
  }
  return out;
}

nlohmann::json summary_to_json(const Summary& s) {
  nlohmann::json actors = nlohmann::json::object();
  for (std::size_t i = 0; i < kActorCount; ++i) {
    actors[std::string(to_string(static_cast<Actor>(i)))] = s.by_actor[i];
  }
  nlohmann::json vms = nlohmann::json::object();
  for (const auto& [vm, n] : s.by_vm) vms[std::to_string(vm)] = n;
  nlohmann::json refusals = nlohmann::json::array();
  for (const Refusal& r : s.refusals) {
    refusals.push_back({{"seq", r.seq},
                        {"sim_ns", r.sim_ns},
                        {"actor", to_string(r.actor)},
                        {"name", r.name},
                        {"vm", r.vm},
                        {"status", r.status}});
  }
  return {{"events", s.events},
          {"first_sim_ns", s.first_ns},
          {"last_sim_ns", s.last_ns},
          {"by_category", s.by_category},
          {"by_name", s.by_name},
          {"by_actor", actors},
          {"by_vm", vms},
          {"refusals", refusals}};
}

}  // namespace cvmsim::trace
