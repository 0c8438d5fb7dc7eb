// read_trace: an exact round trip of what write_trace wrote, and a TraceError (never any
// other exception) naming the event and field for every kind of damaged input.
#include "trace/reader.h"

#include <gtest/gtest.h>

#include <random>

#include "common/file_io.h"
#include "sample_trace.h"
#include "support/temp_dir.h"
#include "trace/trace_error.h"

namespace cvmsim::trace {
namespace {

using nlohmann::json;

std::string sample_text() {
  return to_chrome_json(test::sample_events()).dump(1) + "\n";
}

// The message of the TraceError `text` gives; fails the test on success or another type.
std::string error_of(const std::string& text, TraceErrc expected = TraceErrc::malformed) {
  try {
    parse_trace(text, "t.json");
  } catch (const TraceError& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text.substr(0, 200);
  return {};
}

// The index in traceEvents of the first event (after the 15 metadata events).
std::size_t first_event_index(const json& doc) {
  const json& list = doc["traceEvents"];
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i]["ph"] == "i") return i;
  }
  return list.size();
}

TEST(TraceReader, RoundTripIsExact) {
  test::TempDir dir;
  const auto events = test::sample_events();
  ASSERT_GT(events.size(), 50u);
  write_trace(dir / "t.json", events);
  const auto back = read_trace(dir / "t.json");
  ASSERT_EQ(back.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(back[i], events[i]) << "event " << i;
  }
  // The fields the writer folds into args come back as fields, not as args.
  EXPECT_FALSE(back[1].args.contains("seq"));
  EXPECT_FALSE(back[1].args.contains("actor"));
  EXPECT_EQ(back[1].target, Actor::psp);
  EXPECT_FALSE(back[0].target.has_value());
  EXPECT_EQ(back.back().sim_ns, events.back().sim_ns);
  // And the trace written from what was read is byte for byte the same.
  write_trace(dir / "again.json", back);
  EXPECT_EQ(read_text_file(dir / "again.json"), read_text_file(dir / "t.json"));
}

TEST(TraceReader, EmptyTraceAndLargeValues) {
  EXPECT_TRUE(parse_trace(to_chrome_json({}).dump(), "empty").empty());
  Event e;
  e.sim_ns = 18'446'744'073'709'551'615ull;  // times that do not fit a double exactly
  e.vm = 0xffffffff;
  e.asid = 0xffffffff;
  e.name = "x";
  e.category = "vm";
  e.args = {{"big", 18'446'744'073'709'551'615ull},
            {"neg", -5},
            {"f", 0.1},
            {"nested", {1, {{"a", nullptr}}}}};
  const auto back = parse_trace(to_chrome_json({e}).dump(), "big");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], e);
}

TEST(TraceReader, FileErrors) {
  test::TempDir dir;
  try {
    read_trace(dir / "missing.json");
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_EQ(e.code(), TraceErrc::io);
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
  EXPECT_THROW(read_trace(dir.path()), TraceError);  // a directory
  write_text_file_atomic(dir / "big.json", sample_text());
  try {
    read_trace(dir / "big.json", 100);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_EQ(e.code(), TraceErrc::too_large);
  }
}

TEST(TraceReader, EveryTruncationIsRefused) {
  const std::string text = sample_text();
  // Every prefix of the JSON text (the last byte is the newline write_trace adds): the
  // first 4 KiB byte by byte, then every 7th length.
  for (std::size_t n = 0; n + 1 < text.size(); n += (n < 4096 ? 1 : 7)) {
    SCOPED_TRACE(n);
    error_of(text.substr(0, n));
  }
}

TEST(TraceReader, RandomBytesAreRefused) {
  std::mt19937_64 rng(20261204);
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng() % 300, '\0');
    for (char& c : text) c = static_cast<char>(rng());
    if (round % 2 == 0 && !text.empty()) text[0] = '{';  // get past the first byte sometimes
    error_of(text);
  }
}

// Flipped bytes in a valid trace either still read (a changed digit in an argument) or give
// a TraceError; nothing else may come out.
TEST(TraceReader, MutatedTracesGiveOnlyTraceErrors) {
  const std::string text = sample_text();
  std::mt19937_64 rng(18);
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string t = text;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) t[rng() % t.size()] = static_cast<char>(rng());
    try {
      parse_trace(t, "mutated");
    } catch (const TraceError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 1500);  // most random damage is structural and must be caught
}

struct Damage {
  const char* what;
  const char* message;  // expected in the error message
  void (*apply)(json& event);
};

const Damage kDamages[] = {
    {"event not an object", "expected an object", [](json& e) { e = 5; }},
    {"ph missing", "field \"ph\" is missing", [](json& e) { e.erase("ph"); }},
    {"ph not a string", "field \"ph\" is an unsigned integer", [](json& e) { e["ph"] = 1; }},
    {"duration event", "field \"ph\" is \"X\"", [](json& e) { e["ph"] = "X"; }},
    {"s wrong", "field \"s\"", [](json& e) { e["s"] = "g"; }},
    {"name missing", "field \"name\" is missing", [](json& e) { e.erase("name"); }},
    {"name empty", "field \"name\" must be", [](json& e) { e["name"] = ""; }},
    {"name control char", "field \"name\" must be", [](json& e) { e["name"] = "a\x1b[31m"; }},
    {"name not a string", "field \"name\" is an array", [](json& e) { e["name"] = json::array(); }},
    {"cat unknown", "unknown category \"gossip\"", [](json& e) { e["cat"] = "gossip"; }},
    {"cat missing", "field \"cat\" is missing", [](json& e) { e.erase("cat"); }},
    {"pid wrong", "field \"pid\" is 2", [](json& e) { e["pid"] = 2; }},
    {"tid wrong", "field \"tid\" is 7", [](json& e) { e["tid"] = 7; }},
    {"tid string", "field \"tid\" is a string", [](json& e) { e["tid"] = "3"; }},
    {"ts missing", "field \"ts\" is missing", [](json& e) { e.erase("ts"); }},
    {"ts string", "field \"ts\" is a string", [](json& e) { e["ts"] = "0"; }},
    {"ts disagrees", "ts = sim_ns / 1000", [](json& e) { e["ts"] = 123.25; }},
    {"unknown field", "field \"dur\" is not part", [](json& e) { e["dur"] = 1; }},
    {"args missing", "field \"args\" is missing", [](json& e) { e.erase("args"); }},
    {"args array", "field \"args\" is an array", [](json& e) { e["args"] = json::array(); }},
    {"seq missing", "field \"args.seq\" is missing", [](json& e) { e["args"].erase("seq"); }},
    {"seq negative", "field \"args.seq\" is a negative integer",
     [](json& e) { e["args"]["seq"] = -1; }},
    {"seq float", "field \"args.seq\" is a number with a fraction",
     [](json& e) { e["args"]["seq"] = 0.5; }},
    {"seq out of order", "field \"args.seq\" is 3, expected 0",
     [](json& e) { e["args"]["seq"] = 3; }},
    {"sim_ns string", "field \"args.sim_ns\" is a string",
     [](json& e) { e["args"]["sim_ns"] = "0"; }},
    {"vm too large", "field \"args.vm\" is 4294967296, out of range",
     [](json& e) { e["args"]["vm"] = 4294967296ull; }},
    {"asid bool", "field \"args.asid\" is a boolean", [](json& e) { e["args"]["asid"] = true; }},
    {"actor unknown", "unknown actor \"hypervisor\"",
     [](json& e) { e["args"]["actor"] = "hypervisor"; }},
    {"actor missing", "field \"args.actor\" is missing", [](json& e) { e["args"].erase("actor"); }},
    {"target unknown", "field \"args.target\" names an unknown actor",
     [](json& e) { e["args"]["target"] = "cloud"; }},
    {"target null", "field \"args.target\" is null",
     [](json& e) { e["args"]["target"] = nullptr; }},
};

TEST(TraceReader, EachDamagedFieldIsNamedWithTheEventIndex) {
  const json doc = to_chrome_json(test::sample_events());
  const std::size_t first = first_event_index(doc);
  for (const Damage& d : kDamages) {
    SCOPED_TRACE(d.what);
    json damaged = doc;
    d.apply(damaged["traceEvents"][first]);
    const std::string message = error_of(damaged.dump());
    EXPECT_NE(message.find(d.message), std::string::npos) << message;
    EXPECT_NE(message.find("t.json"), std::string::npos) << message;
    EXPECT_NE(message.find("traceEvents[" + std::to_string(first) + "]"), std::string::npos)
        << message;
  }
}

TEST(TraceReader, OrderAndTimeAreChecked) {
  json doc = to_chrome_json(test::sample_events());
  const std::size_t first = first_event_index(doc);
  json swapped = doc;
  std::swap(swapped["traceEvents"][first + 2], swapped["traceEvents"][first + 3]);
  EXPECT_NE(error_of(swapped.dump()).find("args.seq\" is 3, expected 2"), std::string::npos);

  json dropped = doc;
  dropped["traceEvents"].erase(first + 5);
  EXPECT_NE(error_of(dropped.dump()).find("expected 5"), std::string::npos);

  json back_in_time = doc;
  json& e = back_in_time["traceEvents"][first + 4];
  e["args"]["sim_ns"] = 0;
  e["ts"] = 0.0;
  EXPECT_NE(error_of(back_in_time.dump()).find("before the previous event"), std::string::npos);
}

TEST(TraceReader, DocumentLevelDefects) {
  const json doc = to_chrome_json(test::sample_events());
  EXPECT_NE(error_of("").find("not JSON"), std::string::npos);
  EXPECT_NE(error_of("[]").find("the document is an array"), std::string::npos);
  EXPECT_NE(error_of("{\"traceEvents\":[]}").find("not a cvmsim trace"), std::string::npos);
  json other = doc;
  other["otherData"]["format"] = "chrome";
  EXPECT_NE(error_of(other.dump()).find("otherData.format"), std::string::npos);
  json version = doc;
  version["otherData"]["version"] = 2;
  EXPECT_NE(error_of(version.dump()).find("version 1"), std::string::npos);
  json list = doc;
  list["traceEvents"] = json::object();
  EXPECT_NE(error_of(list.dump()).find("\"traceEvents\" is missing or not an array"),
            std::string::npos);
  // Metadata is skipped, but must still be an object with a string "ph".
  json meta = doc;
  meta["traceEvents"][0]["ph"] = 7;
  EXPECT_NE(error_of(meta.dump()).find("traceEvents[0]: field \"ph\""), std::string::npos);
}

TEST(TraceReader, DeepNestingIsRefusedBeforeItCanHurt) {
  json doc = to_chrome_json(test::sample_events());
  const std::size_t first = first_event_index(doc);
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  std::string text = doc.dump();
  // Put the nesting where an argument value goes.
  doc["traceEvents"][first]["args"]["deep"] = "PLACEHOLDER";
  text = doc.dump();
  text.replace(text.find("\"PLACEHOLDER\""), 13, deep);
  EXPECT_NE(error_of(text).find("nested deeper than"), std::string::npos);

  // The limit counts args itself as one level: 31 arrays inside it read back, 32 do not.
  json ok = to_chrome_json(test::sample_events());
  json value = 1;
  for (int i = 0; i < kMaxTraceDepth - 1; ++i) value = json::array({value});
  ok["traceEvents"][first]["args"]["deep"] = value;
  const auto events = parse_trace(ok.dump(), "ok");
  EXPECT_EQ(events[0].args["deep"], value);
  ok["traceEvents"][first]["args"]["deep"] = json::array({value});
  EXPECT_NE(error_of(ok.dump()).find("nested deeper than"), std::string::npos);
}

}  // namespace
}  // namespace cvmsim::trace
