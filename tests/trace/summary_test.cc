// summarise(): counts per category, name, actor and VM, the time span and the refusals.
#include "trace/summary.h"

#include <gtest/gtest.h>

#include "sample_trace.h"

namespace cvmsim::trace {
namespace {

TEST(TraceSummary, CountsTheSampleBoot) {
  const auto events = test::sample_events(37);
  const Summary s = summarise(events);
  EXPECT_EQ(s.events, events.size());
  EXPECT_EQ(s.events, 54u);
  EXPECT_EQ(s.first_ns, 0u);
  EXPECT_EQ(s.last_ns, 53u * 1500);
  EXPECT_EQ(s.by_name.at("NPT_MAP"), 38u);
  EXPECT_EQ(s.by_name.at("LAUNCH_UPDATE"), 4u);
  EXPECT_EQ(s.by_category.at("psp_command"), 1u + 4 + 1 + 37 + 1 + 1);
  EXPECT_EQ(s.by_category.at("tool"), 2u);
  EXPECT_EQ(s.by_actor[static_cast<std::size_t>(Actor::vmm)], 45u);
  EXPECT_EQ(s.by_actor[static_cast<std::size_t>(Actor::memory_controller)], 0u);
  EXPECT_EQ(s.by_vm.at(0), 2u);
  EXPECT_EQ(s.by_vm.at(2), 3u);
  EXPECT_EQ(s.by_vm.at(1), 49u);
  ASSERT_EQ(s.refusals.size(), 3u);
  EXPECT_EQ(s.refusals[0].name, "SECURE_CALL");
  EXPECT_EQ(s.refusals[0].status, "replayed_request");
  EXPECT_EQ(s.refusals[1].status, "vm_stopped");
  EXPECT_EQ(s.refusals[2].status, "npt_tampered");
  EXPECT_EQ(s.refusals[2].seq, 52u);
}

TEST(TraceSummary, TextAndJson) {
  const Summary s = summarise(test::sample_events());
  const std::string text = format_summary_text(s, 2);
  EXPECT_NE(text.find("54 events, simulated time 0 ns .. 79.500 us"), std::string::npos) << text;
  EXPECT_NE(text.find("NPT_MAP"), std::string::npos);
  EXPECT_NE(text.find("refusals (status not success): 3"), std::string::npos) << text;
  EXPECT_NE(text.find("status=replayed_request"), std::string::npos) << text;
  EXPECT_NE(text.find("... 1 more"), std::string::npos) << text;
  EXPECT_EQ(text.find("npt_tampered\n"), std::string::npos) << text;  // cut by max_refusals

  const auto json = summary_to_json(s);
  EXPECT_EQ(json["events"], 54);
  EXPECT_EQ(json["by_name"]["NPT_MAP"], 38);
  EXPECT_EQ(json["by_actor"]["memory_controller"], 0);
  EXPECT_EQ(json["by_vm"]["2"], 3);
  EXPECT_EQ(json["refusals"].size(), 3u);
  EXPECT_EQ(json["last_sim_ns"], 79500);
}

TEST(TraceSummary, EmptyTrace) {
  const Summary s = summarise({});
  EXPECT_EQ(s.events, 0u);
  EXPECT_EQ(format_summary_text(s).substr(0, 9), "0 events\n");
}

}  // namespace
}  // namespace cvmsim::trace
