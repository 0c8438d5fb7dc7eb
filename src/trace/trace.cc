#include "trace/trace.h"

#include <algorithm>
#include <array>

#include "common/file_io.h"

namespace cvmsim::trace {
namespace {

constexpr std::array<std::string_view, kActorCount> kActorNames = {
    "provider", "tenant", "vmm", "guest", "psp", "disk_controller", "memory_controller"};
// Lane titles in trace viewers, in the order of the sequence diagram.
constexpr std::array<std::string_view, kActorCount> kActorTitles = {
    "provider tools",  "tenant",           "VMM (untrusted)", "guest", "PSP",
    "disk controller", "memory controller"};

int tid_of(Actor actor) {
  return static_cast<int>(actor) + 1;
}

}  // namespace

std::string_view to_string(Actor actor) {
  const auto i = static_cast<std::size_t>(actor);
  return i < kActorNames.size() ? kActorNames[i] : "?";
}

std::optional<Actor> actor_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kActorNames.size(); ++i) {
    if (kActorNames[i] == name) return static_cast<Actor>(i);
  }
  return std::nullopt;
}

void Recorder::attach(const SimClock& clock) {
  base_ns_ = last_ns_ - std::min(last_ns_, clock.now_ns());
  clock_ = &clock;
}

void Recorder::detach() {
  last_ns_ = now_ns();
  clock_ = nullptr;
}

std::uint64_t Recorder::now_ns() const noexcept {
  // Never backwards, even if a clock attached later reads less than the last event.
  return clock_ == nullptr ? last_ns_ : std::max(last_ns_, base_ns_ + clock_->now_ns());
}

void Recorder::record(Event event) {
  event.seq = events_.size();
  event.sim_ns = now_ns();
  last_ns_ = event.sim_ns;
  events_.push_back(std::move(event));
}

nlohmann::json to_chrome_json(const std::vector<Event>& events) {
  nlohmann::json list = nlohmann::json::array();
  list.push_back({{"ph", "M"},
                  {"pid", kTraceProcessId},
                  {"name", "process_name"},
                  {"args", {{"name", "cvmsim platform"}}}});
  for (std::size_t i = 0; i < kActorCount; ++i) {
    const auto actor = static_cast<Actor>(i);
    list.push_back({{"ph", "M"},
                    {"pid", kTraceProcessId},
                    {"tid", tid_of(actor)},
                    {"name", "thread_name"},
                    {"args", {{"name", kActorTitles[i]}}}});
    list.push_back({{"ph", "M"},
                    {"pid", kTraceProcessId},
                    {"tid", tid_of(actor)},
                    {"name", "thread_sort_index"},
                    {"args", {{"sort_index", i}}}});
  }
  for (const Event& e : events) {
    nlohmann::json args = e.args;
    args["seq"] = e.seq;
    args["sim_ns"] = e.sim_ns;
    args["vm"] = e.vm;
    args["asid"] = e.asid;
    args["actor"] = to_string(e.actor);
    if (e.target) args["target"] = to_string(*e.target);
    // Instant events, thread-scoped; ts is in microseconds (fractional: nanoseconds).
    list.push_back({{"name", e.name},
                    {"cat", e.category},
                    {"ph", "i"},
                    {"s", "t"},
                    {"ts", static_cast<double>(e.sim_ns) / 1000.0},
                    {"pid", kTraceProcessId},
                    {"tid", tid_of(e.actor)},
                    {"args", std::move(args)}});
  }
  return {{"traceEvents", std::move(list)},
          {"displayTimeUnit", "ns"},
          {"otherData", {{"format", "cvmsim-trace"}, {"version", 1}}}};
}

void write_trace(const std::filesystem::path& path, const std::vector<Event>& events) {
  write_text_file_atomic(path, to_chrome_json(events).dump(1) + "\n");
}

}  // namespace cvmsim::trace
