// digest(): stable for the same events, different when any one field differs, and equal to
// what the documented definition gives (scripts/trace_digest.py, an independent reader).
#include "trace/digest.h"

#include <gtest/gtest.h>

#include "sample_trace.h"
#include "trace/reader.h"
#include "trace/trace_error.h"

namespace cvmsim::trace {
namespace {

// scripts/trace_digest.py over the trace write_trace makes of test::sample_events().
constexpr const char* kSampleDigest =
    "c949b0d8b192de3e7bd483fda746fbc76468d4267d320ced04b575149f648e0d";

TEST(TraceDigest, MatchesTheIndependentImplementation) {
  EXPECT_EQ(digest(test::sample_events()), kSampleDigest);
}

TEST(TraceDigest, StableAcrossRunsAndRoundTrips) {
  const auto events = test::sample_events();
  EXPECT_EQ(digest(events), digest(test::sample_events()));
  EXPECT_EQ(digest(parse_trace(to_chrome_json(events).dump(), "t")), digest(events));
  EXPECT_EQ(digest(events).size(), 64u);
  EXPECT_NE(digest({}), digest(events));
}

TEST(TraceDigest, CanonicalFormIsDocumented) {
  Event e;
  e.seq = 0;
  e.sim_ns = 1500;
  e.actor = Actor::vmm;
  e.target = Actor::psp;
  e.name = "NPT_MAP";
  e.category = "psp_command";
  e.vm = 1;
  e.asid = 2;
  e.args = {{"status", "success"}, {"gpa", 4096}, {"pages", 16}};
  EXPECT_EQ(canonical_events({e}),
            "cvmsim-trace-digest-v1\n"
            "[0,1500,\"vmm\",\"psp\",\"NPT_MAP\",\"psp_command\",1,2,"
            "{\"gpa\":4096,\"pages\":16,\"status\":\"success\"}]\n");
  e.target.reset();
  EXPECT_NE(canonical_events({e}).find("\"vmm\",null,"), std::string::npos);
}

TEST(TraceDigest, SensitiveToEveryField) {
  const auto base = test::sample_events();
  const std::string d0 = digest(base);
  const std::size_t i = base.size() / 2;
  using Change = void (*)(Event&);
  const Change changes[] = {
      [](Event& e) { ++e.seq; },
      [](Event& e) { ++e.sim_ns; },
      [](Event& e) { e.actor = Actor::guest; },
      [](Event& e) { e.target = Actor::memory_controller; },
      [](Event& e) { e.target.reset(); },
      [](Event& e) { e.name += "X"; },
      [](Event& e) { e.category = "timer"; },
      [](Event& e) { ++e.vm; },
      [](Event& e) { ++e.asid; },
      [](Event& e) { e.args["pages"] = 17; },
      [](Event& e) { e.args["extra"] = nullptr; },
      [](Event& e) { e.args.erase("status"); },
  };
  for (std::size_t k = 0; k < std::size(changes); ++k) {
    auto changed = base;
    changes[k](changed[i]);
    EXPECT_NE(digest(changed), d0) << "change " << k;
  }
  auto shorter = base;
  shorter.pop_back();
  EXPECT_NE(digest(shorter), d0);
}

TEST(TraceDigest, InvalidUtf8InMemoryIsATraceError) {
  auto events = test::sample_events();
  events[3].args["bad"] = std::string("\xff\xfe");
  EXPECT_THROW(digest(events), TraceError);
}

}  // namespace
}  // namespace cvmsim::trace
