#include "trace/diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "trace/event_text.h"

namespace cvmsim::trace {
namespace {

constexpr std::string_view kAbsent = "(absent)";

std::string target_text(const std::optional<Actor>& target) {
  return target ? compact_json(std::string(to_string(*target))) : "null";
}

std::vector<FieldDifference> compare(const Event& a, const Event& b) {
  std::vector<FieldDifference> out;
  auto field = [&](std::string_view name, const nlohmann::json& va, const nlohmann::json& vb) {
    if (va != vb) out.push_back({std::string(name), compact_json(va), compact_json(vb)});
  };
  field("seq", a.seq, b.seq);
  field("sim_ns", a.sim_ns, b.sim_ns);
  field("actor", to_string(a.actor), to_string(b.actor));
  if (a.target != b.target) out.push_back({"target", target_text(a.target), target_text(b.target)});
  field("name", a.name, b.name);
  field("category", a.category, b.category);
  field("vm", a.vm, b.vm);
  field("asid", a.asid, b.asid);
  if (a.args == b.args) return out;
  if (!a.args.is_object() || !b.args.is_object()) {
    field("args", a.args, b.args);
    return out;
  }
  // Argument by argument, in key order, so "args.status" is named rather than all of args.
  std::set<std::string> keys;
  for (const auto& [k, v] : a.args.items()) keys.insert(k);
  for (const auto& [k, v] : b.args.items()) keys.insert(k);
  for (const std::string& k : keys) {
    const auto ia = a.args.find(k);
    const auto ib = b.args.find(k);
    const bool ha = ia != a.args.end();
    const bool hb = ib != b.args.end();
    if (ha && hb && *ia == *ib) continue;
    out.push_back({"args." + k, ha ? compact_json(*ia) : std::string(kAbsent),
                   hb ? compact_json(*ib) : std::string(kAbsent)});
  }
  return out;
}

std::string side_name(bool is_a) {
  return is_a ? "A" : "B";
}

}  // namespace

std::optional<Divergence> first_divergence(const std::vector<Event>& a,
                                           const std::vector<Event>& b) {
  const std::size_t common = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (a[i] == b[i]) continue;
    Divergence d{i, a[i], b[i], compare(a[i], b[i])};
    // Equal by every named field but not by operator== cannot happen today; if Event grows
    // a field this keeps the report from claiming "no field differs".
    if (d.fields.empty()) d.fields.push_back({"(event)", "", ""});
    return d;
  }
  if (a.size() == b.size()) return std::nullopt;
  Divergence d;
  d.index = common;
  if (a.size() > common) d.a = a[common];
  if (b.size() > common) d.b = b[common];
  return d;
}

std::string format_divergence(const Divergence& d, const std::vector<Event>& a,
                              const std::vector<Event>& b, std::size_t context) {
  std::string out;
  if (d.a && d.b) {
    out += fmt::format("traces diverge at event {} (A: {} events, B: {} events):\n", d.index,
                       a.size(), b.size());
    for (const FieldDifference& f : d.fields) {
      out += fmt::format("  {:<16} A: {}\n  {:<16} B: {}\n", f.field, f.a, "", f.b);
    }
  } else {
    const bool a_longer = d.a.has_value();
    const std::size_t longer = a_longer ? a.size() : b.size();
    out += fmt::format(
        "traces diverge at event {}: {} has {} more events (A: {} events, B: {} "
        "events); the first {} has is:\n",
        d.index, side_name(a_longer), longer - d.index, a.size(), b.size(), side_name(a_longer));
  }
  const std::size_t from = d.index > context ? d.index - context : 0;
  if (from < d.index) out += "context (identical in A and B):\n";
  for (std::size_t i = from; i < d.index; ++i)
    out += fmt::format("    {}\n", format_event_line(a[i]));
  if (d.a) out += fmt::format("  A {}\n", format_event_line(*d.a));
  if (d.b) out += fmt::format("  B {}\n", format_event_line(*d.b));
  return out;
}

nlohmann::json divergence_to_json(const Divergence& d, const std::vector<Event>& a,
                                  const std::vector<Event>& b, std::size_t context) {
  nlohmann::json fields = nlohmann::json::array();
  for (const FieldDifference& f : d.fields) {
    fields.push_back({{"field", f.field}, {"a", f.a}, {"b", f.b}});
  }
  nlohmann::json before = nlohmann::json::array();
  for (std::size_t i = d.index > context ? d.index - context : 0; i < d.index; ++i) {
    before.push_back(event_to_json(a[i]));
  }
  return {{"identical", false},
          {"index", d.index},
          {"a_events", a.size()},
          {"b_events", b.size()},
          {"differences", fields},
          {"a", d.a ? event_to_json(*d.a) : nlohmann::json(nullptr)},
          {"b", d.b ? event_to_json(*d.b) : nlohmann::json(nullptr)},
          {"context", before}};
}

}  // namespace cvmsim::trace
