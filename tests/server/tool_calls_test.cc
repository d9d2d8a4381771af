// DeepSeek tool-call markup -> OpenAI tool_calls, on fixed texts, whole and streamed in
// every possible split.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

namespace dsv3::server {
namespace {

const std::string kV3 =
    "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
    "```json\n{\"city\": \"Paris\", \"unit\": \"C\"}\n```<｜tool▁call▁end｜>\n"
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"tz\": \"CET\"}\n```"
    "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

TEST(ToolCalls, ParsesDeepSeekV3Format) {
  const auto r = parse_tool_calls(kV3);
  EXPECT_EQ(r.content, "Let me check.");
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, "{\"city\": \"Paris\", \"unit\": \"C\"}");
  EXPECT_EQ(r.calls[1].name, "get_time");
  EXPECT_EQ(r.calls[1].arguments, "{\"tz\": \"CET\"}");
}

// Lazy constraints of strict functions: how each call opens and closes, from the same example.
TEST(ToolCalls, CallMarkupFollowsTheTemplatesFormat) {
  const std::string v3 =
      "<｜User｜>hi<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
      "probe\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  const std::optional<CallMarkup> m = call_markup(v3, "probe");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->marker, "<｜tool▁call▁begin｜>");
  EXPECT_EQ(m->opening("get_time"), "function<｜tool▁sep｜>get_time\n```json\n");
  EXPECT_EQ(m->closing, "\n```<｜tool▁call▁end｜>");
  // What the parser reads back from text written that way.
  const auto r = parse_tool_calls(m->marker + m->opening("get_time") + "{\"tz\": \"CET\"}" + m->closing);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_time");
  EXPECT_EQ(r.calls[0].arguments, "{\"tz\": \"CET\"}");

  const std::string v31 = "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>probe<｜tool▁sep｜>{}"
                          "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  const std::optional<CallMarkup> m31 = call_markup(v31, "probe");
  ASSERT_TRUE(m31.has_value());
  EXPECT_EQ(m31->opening("f"), "f<｜tool▁sep｜>");
  EXPECT_EQ(m31->closing, "<｜tool▁call▁end｜>");
  EXPECT_FALSE(call_markup("<｜Assistant｜>no calls here", "probe").has_value());
}

// tool_choice: the markup that opens a call, cut from the template's own rendering of one.
TEST(ToolCalls, ForcedPrefixFollowsTheTemplatesFormat) {
  const std::string v3 =
      "<｜User｜>hi<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
      "probe\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  EXPECT_EQ(forced_call_prefix(v3, "probe", ""),
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>");
  EXPECT_EQ(forced_call_prefix(v3, "probe", "get_time"),
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n");
  const std::string v31 =
      "<｜Assistant｜></think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>probe<｜tool▁sep｜>{}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  EXPECT_EQ(forced_call_prefix(v31, "probe", "search"),
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>");
  EXPECT_EQ(forced_call_prefix("<｜Assistant｜>no calls here", "probe", ""), std::nullopt);
  // The parser reads the forced markup plus the model's arguments as one call.
  const auto r = parse_tool_calls(*forced_call_prefix(v3, "probe", "get_time") +
                                  "{\"tz\": \"CET\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_time");
  EXPECT_EQ(r.calls[0].arguments, "{\"tz\": \"CET\"}");
}

TEST(ToolCalls, ParsesDeepSeekV31Format) {
  const auto r = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"cats\"}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  EXPECT_EQ(r.content, "");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "search");
  EXPECT_EQ(r.calls[0].arguments, "{\"q\": \"cats\"}");
}

TEST(ToolCalls, PlainTextPassesThrough) {
  const std::string text = "No tools here, just <b>markup</b> and a < sign ｜ and ▁.";
  const auto r = parse_tool_calls(text);
  EXPECT_EQ(r.content, text);
  EXPECT_TRUE(r.calls.empty());
}

TEST(ToolCalls, EverySplitOfTheStreamGivesTheSameResult) {
  const auto whole = parse_tool_calls(kV3);
  for (size_t cut1 = 0; cut1 <= kV3.size(); cut1 += 3) {
    for (size_t cut2 = cut1; cut2 <= kV3.size(); cut2 += 7) {
      ToolCallParser p;
      std::string content;
      std::vector<ToolCall> calls;
      for (const auto& piece :
           {kV3.substr(0, cut1), kV3.substr(cut1, cut2 - cut1), kV3.substr(cut2)}) {
        auto step = p.feed(piece);
        content += step.content;
        calls.insert(calls.end(), step.calls.begin(), step.calls.end());
      }
      auto tail = p.flush();
      content += tail.content;
      calls.insert(calls.end(), tail.calls.begin(), tail.calls.end());
      ASSERT_EQ(content, whole.content) << cut1 << " " << cut2;
      ASSERT_EQ(calls.size(), 2u) << cut1 << " " << cut2;
      EXPECT_EQ(calls[1].arguments, whole.calls[1].arguments);
    }
  }
}

TEST(ToolCalls, CallsComeOutAsSoonAsTheyAreComplete) {
  ToolCallParser p;
  const size_t first_end =
      kV3.find("<｜tool▁call▁end｜>") + std::string("<｜tool▁call▁end｜>").size();
  auto step = p.feed(kV3.substr(0, first_end));
  EXPECT_EQ(step.content, "Let me check.");
  ASSERT_EQ(step.calls.size(), 1u);
  EXPECT_EQ(step.calls[0].name, "get_weather");
  step = p.feed(kV3.substr(first_end));
  ASSERT_EQ(step.calls.size(), 1u);
  EXPECT_EQ(step.calls[0].name, "get_time");
}

TEST(ToolCalls, MarkerPrefixIsHeldBackThenReleased) {
  ToolCallParser p;
  EXPECT_EQ(p.feed("Hello <｜tool").content, "Hello ");
  EXPECT_EQ(p.feed(" kit").content, "<｜tool kit");
}

TEST(ToolCalls, UnfinishedCallAtTheTokenLimitIsStillACall) {
  const auto r = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>lookup\n```json\n{\"id\": "
      "4");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "lookup");
  EXPECT_EQ(r.calls[0].arguments, "{\"id\": 4");
}

TEST(ToolCalls, MalformedCallComesBackAsText) {
  const std::string text = "<｜tool▁call▁begin｜>no separator here<｜tool▁call▁end｜>";
  const auto r = parse_tool_calls(text);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.content, text);
}

TEST(ToolCalls, TextAfterTheListIsContent) {
  const auto r = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{}<｜tool▁call▁end｜>"
      "<｜tool▁calls▁end｜>Done.");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "f");
  EXPECT_EQ(r.calls[0].arguments, "{}");
  EXPECT_EQ(r.content, "Done.");
}

}  // namespace
}  // namespace dsv3::server
