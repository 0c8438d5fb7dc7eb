// What a trace contains at a glance: counts per category, name, actor and VM, the span of
// simulated time, and every event whose status was not success (the refusals).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace cvmsim::trace {

struct Refusal {
  std::uint64_t seq = 0;
  std::uint64_t sim_ns = 0;
  Actor actor = Actor::vmm;
  std::string name;
  std::uint32_t vm = 0;
  std::string status;
};

struct Summary {
  std::size_t events = 0;
  std::uint64_t first_ns = 0;  // 0 when there are no events
  std::uint64_t last_ns = 0;
  std::map<std::string, std::size_t> by_category;
  std::map<std::string, std::size_t> by_name;
  std::array<std::size_t, kActorCount> by_actor{};  // indexed by Actor
  std::map<std::uint32_t, std::size_t> by_vm;       // 0: the platform
  std::vector<Refusal> refusals;                    // in trace order
};

Summary summarise(const std::vector<Event>& events);

// The text lists at most `max_refusals` refusals and says how many more there are.
std::string format_summary_text(const Summary& summary, std::size_t max_refusals = 50);
nlohmann::json summary_to_json(const Summary& summary);

}  // namespace cvmsim::trace
