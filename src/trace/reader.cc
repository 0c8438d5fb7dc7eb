#include "trace/reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>

#include "common/common_error.h"
#include "common/file_io.h"
#include "trace/categories.h"
#include "trace/trace_error.h"

namespace cvmsim::trace {
namespace {

using nlohmann::json;

// Names are identifiers chosen by the platform's code ("NPT_MAP"); the limit keeps a forged
// trace from putting control sequences or pages of text into every line that shows one.
constexpr std::size_t kMaxNameBytes = 128;
constexpr std::array<std::string_view, 8> kEventKeys = {"name", "cat", "ph",  "s",
                                                        "ts",   "pid", "tid", "args"};
// Arguments the writer adds from the event's own fields; the rest are the event's args.
constexpr std::array<std::string_view, 6> kReservedArgs = {"seq",  "sim_ns", "vm",
                                                           "asid", "actor",  "target"};

std::string describe_type(const json& value) {
  if (value.is_number_unsigned()) return "an unsigned integer";
  if (value.is_number_integer()) return "a negative integer";
  if (value.is_number_float()) return "a number with a fraction or exponent";
  if (value.is_string()) return "a string";
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_boolean()) return "a boolean";
  return "null";
}

// Strips nlohmann's "[json.exception.parse_error.101] " prefix: the user needs the reason.
std::string parser_reason(const json::exception& e) {
  std::string_view what = e.what();
  if (const auto end = what.find("] "); what.starts_with("[json.") && end != what.npos) {
    what.remove_prefix(end + 2);
  }
  return std::string(what);
}

[[noreturn]] void fail_document(std::string_view source, std::string_view what) {
  throw TraceError(TraceErrc::malformed, fmt::format("{}: {}", source, what));
}

// The checks of one event in traceEvents; every message names the event and the field.
class EventReader {
 public:
  EventReader(std::string_view source, std::size_t index, const json& event)
      : source_(source), index_(index), event_(event) {}

  [[noreturn]] void fail(std::string_view field, std::string_view what) const {
    throw TraceError(TraceErrc::malformed, fmt::format("{}: traceEvents[{}]: field \"{}\" {}",
                                                       source_, index_, field, what));
  }

  const json& required(const json& object, std::string_view key, std::string_view field) const {
    const auto it = object.find(key);
    if (it == object.end()) fail(field, "is missing");
    return *it;
  }

  std::string string_field(const json& object, std::string_view key, std::string_view field) const {
    const json& value = required(object, key, field);
    if (!value.is_string())
      fail(field, fmt::format("is {}, expected a string", describe_type(value)));
    return value.get<std::string>();
  }

  std::uint64_t unsigned_field(
      const json& object, std::string_view key, std::string_view field,
      std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) const {
    const json& value = required(object, key, field);
    if (!value.is_number_unsigned()) {
      fail(field, fmt::format("is {}, expected an unsigned integer", describe_type(value)));
    }
    const auto v = value.get<std::uint64_t>();
    if (v > max) fail(field, fmt::format("is {}, out of range 0..{}", v, max));
    return v;
  }

  Actor actor_field(const json& object, std::string_view key, std::string_view field) const {
    const std::string name = string_field(object, key, field);
    const auto actor = actor_from_string(name);
    if (!actor) {
      fail(field, fmt::format("names an unknown actor \"{}\" (known: provider, tenant, vmm, "
                              "guest, psp, disk_controller, memory_controller)",
                              name));
    }
    return *actor;
  }

  // `expected_seq`: events are numbered from 0 in file order; `previous_ns`: the clock only
  // advances, so an earlier time than the event before means an edited or merged trace.
  Event read(std::uint64_t expected_seq, std::uint64_t previous_ns) const {
    for (const auto& [key, value] : event_.items()) {
      if (std::find(kEventKeys.begin(), kEventKeys.end(), key) == kEventKeys.end()) {
        fail(key, "is not part of a cvmsim event");
      }
    }
    Event e;
    if (const std::string s = string_field(event_, "s", "s"); s != "t") {
      fail("s", fmt::format("is \"{}\", expected \"t\" (a thread-scoped instant event)", s));
    }
    e.name = string_field(event_, "name", "name");
    if (e.name.empty() || e.name.size() > kMaxNameBytes ||
        !std::all_of(e.name.begin(), e.name.end(), [](char c) { return c >= ' ' && c < 0x7f; })) {
      fail("name", fmt::format("must be 1..{} printable ASCII characters", kMaxNameBytes));
    }
    e.category = string_field(event_, "cat", "cat");
    if (!is_known_category(e.category)) {
      fail("cat", fmt::format("names an unknown category \"{}\" (docs/formats.md, \"Event "
                              "trace\", lists them)",
                              e.category));
    }
    if (const auto pid = unsigned_field(event_, "pid", "pid"); pid != kTraceProcessId) {
      fail("pid", fmt::format("is {}, expected {}", pid, kTraceProcessId));
    }

    const json& args = required(event_, "args", "args");
    if (!args.is_object())
      fail("args", fmt::format("is {}, expected an object", describe_type(args)));
    e.seq = unsigned_field(args, "seq", "args.seq");
    if (e.seq != expected_seq) {
      fail("args.seq", fmt::format("is {}, expected {} (events are numbered from 0 in file order)",
                                   e.seq, expected_seq));
    }
    e.sim_ns = unsigned_field(args, "sim_ns", "args.sim_ns");
    if (e.sim_ns < previous_ns) {
      fail("args.sim_ns", fmt::format("is {}, before the previous event's {} (simulated time "
                                      "never goes back)",
                                      e.sim_ns, previous_ns));
    }
    e.vm = static_cast<std::uint32_t>(
        unsigned_field(args, "vm", "args.vm", std::numeric_limits<std::uint32_t>::max()));
    e.asid = static_cast<std::uint32_t>(
        unsigned_field(args, "asid", "args.asid", std::numeric_limits<std::uint32_t>::max()));
    e.actor = actor_field(args, "actor", "args.actor");
    if (args.contains("target")) e.target = actor_field(args, "target", "args.target");

    // The lane and the timestamp repeat what args say; a trace where they disagree was
    // edited, and which one to believe is not ours to guess.
    const auto tid = unsigned_field(event_, "tid", "tid");
    if (tid != static_cast<std::uint64_t>(e.actor) + 1) {
      fail("tid", fmt::format("is {}, but args.actor \"{}\" is lane {}", tid, to_string(e.actor),
                              static_cast<int>(e.actor) + 1));
    }
    const json& ts = required(event_, "ts", "ts");
    if (!ts.is_number()) fail("ts", fmt::format("is {}, expected a number", describe_type(ts)));
    if (ts.get<double>() != static_cast<double>(e.sim_ns) / 1000.0) {
      fail("ts", fmt::format("is {}, but args.sim_ns {} gives {} (ts = sim_ns / 1000)", ts.dump(),
                             e.sim_ns, json(static_cast<double>(e.sim_ns) / 1000.0).dump()));
    }

    e.args = json::object();
    for (const auto& [key, value] : args.items()) {
      if (std::find(kReservedArgs.begin(), kReservedArgs.end(), key) == kReservedArgs.end()) {
        e.args[key] = value;
      }
    }
    return e;
  }

 private:
  std::string_view source_;
  std::size_t index_;
  const json& event_;
};

// The deepest nesting of arrays and objects in `text`, brackets inside strings not
// counted. Only meaningful for text that then parses as JSON.
int nesting_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

json parse_document(std::string_view text, std::string_view source) {
  // The parser itself is iterative, but dumping and comparing values recurse: refuse deep
  // nesting before anything touches the document. (A scan, not a parser callback: the
  // callback parser took 13 times as long on a 60 MB trace.)
  if (nesting_depth(text) > kMaxTraceDepth + 3) {
    fail_document(
        source, fmt::format("nested deeper than {} levels inside an event's args", kMaxTraceDepth));
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    fail_document(source, fmt::format("not JSON: {}", parser_reason(e)));
  }
}

void check_header(const json& doc, std::string_view source) {
  if (!doc.is_object()) {
    fail_document(source, fmt::format("the document is {}, expected an object with "
                                      "\"traceEvents\"",
                                      describe_type(doc)));
  }
  const auto other = doc.find("otherData");
  if (other == doc.end() || !other->is_object()) {
    fail_document(source, "field \"otherData\" is missing or not an object: not a cvmsim trace");
  }
  const auto format = other->find("format");
  if (format == other->end() || *format != "cvmsim-trace") {
    fail_document(source, "field \"otherData.format\" is not \"cvmsim-trace\": not a cvmsim trace");
  }
  const auto version = other->find("version");
  if (version == other->end() || !version->is_number_unsigned() || *version != 1) {
    fail_document(source, fmt::format("field \"otherData.version\" is {}, this reader knows "
                                      "version 1",
                                      version == other->end() ? "missing" : version->dump()));
  }
  const auto list = doc.find("traceEvents");
  if (list == doc.end() || !list->is_array()) {
    fail_document(source, "field \"traceEvents\" is missing or not an array");
  }
}

}  // namespace

std::vector<Event> parse_trace(std::string_view text, std::string_view source) {
  try {
    const json doc = parse_document(text, source);
    check_header(doc, source);
    const json& list = doc.at("traceEvents");
    std::vector<Event> events;
    std::uint64_t previous_ns = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& item = list[i];
      if (!item.is_object()) {
        fail_document(source, fmt::format("traceEvents[{}] is {}, expected an object", i,
                                          describe_type(item)));
      }
      const EventReader reader(source, i, item);
      // Metadata (lane names and order) is the writer's decoration, derived from nothing.
      if (reader.string_field(item, "ph", "ph") == "M") continue;
      if (const std::string ph = item.at("ph").get<std::string>(); ph != "i") {
        reader.fail("ph", fmt::format("is \"{}\"; cvmsim writes only instant events (\"i\") and "
                                      "metadata (\"M\")",
                                      ph));
      }
      events.push_back(reader.read(events.size(), previous_ns));
      previous_ns = events.back().sim_ns;
    }
    return events;
  } catch (const json::exception& e) {
    // Every access above is type-checked first; this only keeps the promise that the
    // reader throws TraceError and nothing else.
    fail_document(source, fmt::format("unexpected structure: {}", parser_reason(e)));
  }
}

std::vector<Event> read_trace(const std::filesystem::path& path, std::uint64_t max_size) {
  std::string text;
  try {
    text = read_text_file(path, max_size);
  } catch (const CommonError& e) {
    throw TraceError(e.code() == CommonErrc::too_large ? TraceErrc::too_large : TraceErrc::io,
                     e.what());
  }
  return parse_trace(text, path.string());
}

}  // namespace cvmsim::trace
