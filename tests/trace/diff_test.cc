// first_divergence: the first differing event, the fields and both values; the prefix case.
#include "trace/diff.h"

#include <gtest/gtest.h>

#include "sample_trace.h"

namespace cvmsim::trace {
namespace {

TEST(TraceDiff, IdenticalTracesHaveNoDivergence) {
  EXPECT_FALSE(first_divergence(test::sample_events(), test::sample_events()));
  EXPECT_FALSE(first_divergence({}, {}));
}

TEST(TraceDiff, FindsOneChangedArgumentInTheMiddle) {
  const auto a = test::sample_events();
  auto b = a;
  const std::size_t mid = a.size() / 2;
  ASSERT_EQ(b[mid].name, "NPT_MAP");
  b[mid].args["pages"] = 8;
  // A later difference must not hide the first.
  b[mid + 3].sim_ns += 1;
  const auto d = first_divergence(a, b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, mid);
  ASSERT_TRUE(d->a && d->b);
  EXPECT_EQ(*d->a, a[mid]);
  EXPECT_EQ(*d->b, b[mid]);
  ASSERT_EQ(d->fields.size(), 1u);
  EXPECT_EQ(d->fields[0].field, "args.pages");
  EXPECT_EQ(d->fields[0].a, "16");
  EXPECT_EQ(d->fields[0].b, "8");

  const std::string text = format_divergence(*d, a, b);
  EXPECT_NE(text.find("diverge at event " + std::to_string(mid)), std::string::npos) << text;
  EXPECT_NE(text.find("args.pages"), std::string::npos) << text;
  EXPECT_NE(text.find("A: 16"), std::string::npos) << text;
  EXPECT_NE(text.find("B: 8"), std::string::npos) << text;
  // Three events of context before it.
  for (std::size_t i = mid - 3; i < mid; ++i) {
    EXPECT_NE(text.find("#" + std::to_string(i) + " "), std::string::npos) << text;
  }
  EXPECT_EQ(text.find("#" + std::to_string(mid - 4) + " "), std::string::npos) << text;

  const auto json = divergence_to_json(*d, a, b);
  EXPECT_EQ(json["index"], mid);
  EXPECT_EQ(json["differences"][0]["field"], "args.pages");
  EXPECT_EQ(json["context"].size(), 3u);
  EXPECT_EQ(json["b"]["args"]["pages"], 8);
}

TEST(TraceDiff, NamesEveryDifferingFieldAndAbsentArguments) {
  const auto a = test::sample_events();
  auto b = a;
  b[1].sim_ns += 7;
  b[1].target = Actor::guest;
  b[1].vm = 9;
  b[1].args.erase("status");
  b[1].args["new"] = "x";
  const auto d = first_divergence(a, b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, 1u);
  std::vector<std::string> names;
  for (const auto& f : d->fields) names.push_back(f.field);
  EXPECT_EQ(names, (std::vector<std::string>{"sim_ns", "target", "vm", "args.new", "args.status"}));
  EXPECT_EQ(d->fields[3].a, "(absent)");
  EXPECT_EQ(d->fields[4].a, "\"success\"");
  EXPECT_EQ(d->fields[4].b, "(absent)");
}

TEST(TraceDiff, OneTraceIsAPrefixOfTheOther) {
  const auto a = test::sample_events();
  auto b = a;
  b.resize(a.size() - 4);
  const auto d = first_divergence(a, b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, b.size());
  EXPECT_TRUE(d->a);
  EXPECT_FALSE(d->b);
  EXPECT_NE(format_divergence(*d, a, b).find("A has 4 more events"), std::string::npos);

  const auto r = first_divergence(b, a);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->a);
  EXPECT_NE(format_divergence(*r, b, a).find("B has 4 more events"), std::string::npos);
  EXPECT_TRUE(divergence_to_json(*r, b, a)["a"].is_null());

  const auto from_empty = first_divergence({}, a);
  ASSERT_TRUE(from_empty);
  EXPECT_EQ(from_empty->index, 0u);
}

}  // namespace
}  // namespace cvmsim::trace
