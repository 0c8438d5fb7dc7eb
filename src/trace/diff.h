// Where two runs part: the first event that differs in any field, and how.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace cvmsim::trace {

struct FieldDifference {
  std::string field;  // "sim_ns", "target", "args.status", ...
  std::string a;      // the value in A as compact JSON, "(absent)" when A has none
  std::string b;
};

struct Divergence {
  std::size_t index = 0;                // position in both sequences
  std::optional<Event> a;               // none: A ended here (B has more events)
  std::optional<Event> b;               // none: B ended here
  std::vector<FieldDifference> fields;  // empty when one side ended
};

// Compares event by event: seq, sim_ns, actor, target, name, category, vm, asid and each
// argument. None when the sequences are equal.
std::optional<Divergence> first_divergence(const std::vector<Event>& a,
                                           const std::vector<Event>& b);

// A readable report: the differing fields with both values, then up to `context` events
// before the divergence (common to both traces) and the two events at it.
std::string format_divergence(const Divergence& d, const std::vector<Event>& a,
                              const std::vector<Event>& b, std::size_t context = 3);
nlohmann::json divergence_to_json(const Divergence& d, const std::vector<Event>& a,
                                  const std::vector<Event>& b, std::size_t context = 3);

}  // namespace cvmsim::trace
