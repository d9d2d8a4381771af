// DeepSeek-R1 and DeepSeek-V3.1 chat templates on multi-turn and tool-call conversations:
// checks the pieces each template is known to produce. (Exact renderings of the same
// conversations are compared with Python Jinja2 in jinja_conformance_test.cc.)
#include "deepseek_templates.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "template/chat_template.h"

namespace dsv3 {
namespace {

using nlohmann::ordered_json;

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

ordered_json tool_call(const std::string& name, const std::string& arguments) {
  return {{"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
}

std::string render(const char* source, const ordered_json& messages, bool add_generation_prompt,
                   const ordered_json& extra = nullptr) {
  auto tmpl = ChatTemplate::parse(source);
  EXPECT_TRUE(tmpl.ok()) << tmpl.error().message;
  if (!tmpl.ok()) return "";
  auto out = render_chat(*tmpl, messages, add_generation_prompt, kBos, kEos, extra);
  EXPECT_TRUE(out.ok()) << out.error().message;
  return out.ok() ? *out : "";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(DeepSeekR1Template, DropsReasoningFromHistoryAndOpensThinkBlock) {
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "<think>\nAdd the numbers.\n</think>\n\n4"},
    {"role": "user", "content": "And 3+3?"}])");
  const std::string out = render(deepseek_templates::kR1, messages, true);
  EXPECT_EQ(out.rfind(kBos + "You are terse.<｜User｜>2+2?", 0), 0u) << out;
  EXPECT_NE(out.find("<｜Assistant｜>\n\n4" + kEos), std::string::npos) << out;
  EXPECT_EQ(out.find("Add the numbers"), std::string::npos)
      << "reasoning must not stay in history: " << out;
  EXPECT_TRUE(ends_with(out, "<｜User｜>And 3+3?<｜Assistant｜><think>\n")) << out;
}

TEST(DeepSeekR1Template, WritesToolCallsAndOutputs) {
  ordered_json messages = ordered_json::array();
  messages.push_back({{"role", "user"}, {"content", "Weather and time in Paris?"}});
  messages.push_back({{"role", "assistant"},
                      {"content", nullptr},
                      {"tool_calls",
                       {tool_call("get_weather", R"({"city": "Paris"})"),
                        tool_call("get_time", R"({"tz": "CET"})")}}});
  messages.push_back({{"role", "tool"}, {"content", "18C, sunny"}});
  messages.push_back({{"role", "tool"}, {"content", "14:05"}});
  messages.push_back({{"role", "assistant"}, {"content", "18C and sunny, 14:05."}});
  const std::string out = render(deepseek_templates::kR1, messages, true);
  EXPECT_NE(
      out.find(
          "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_"
          "weather\n"
          "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n"
          "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"tz\": \"CET\"}\n```"
          "<｜tool▁call▁end｜><｜tool▁calls▁end｜>" +
          kEos),
      std::string::npos)
      << out;
  EXPECT_NE(
      out.find("<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>18C, sunny<｜tool▁output▁end｜>\n"
               "<｜tool▁output▁begin｜>14:05<｜tool▁output▁end｜><｜tool▁outputs▁end｜>18C and "
               "sunny, 14:05." +
               kEos),
      std::string::npos)
      << out;
  // The conversation ends with an assistant turn, so the prompt still opens a new one.
  EXPECT_TRUE(ends_with(out, kEos + "<｜Assistant｜><think>\n")) << out;
}

TEST(DeepSeekV31Template, NonThinkingModeClosesThinkBlockUpFront) {
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "<think>greet back</think>Hello!"},
    {"role": "user", "content": "Bye"}])");
  const std::string out = render(deepseek_templates::kV31, messages, true);
  EXPECT_EQ(out, kBos + "<｜User｜>Hi<｜Assistant｜></think>Hello!" + kEos +
                     "<｜User｜>Bye<｜Assistant｜></think>");
}

TEST(DeepSeekV31Template, ThinkingModeOpensThinkBlock) {
  const ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "Why?"}])");
  const std::string thinking =
      render(deepseek_templates::kV31, messages, true, {{"thinking", true}});
  EXPECT_TRUE(ends_with(thinking, "<｜User｜>Why?<｜Assistant｜><think>")) << thinking;
  const std::string plain = render(deepseek_templates::kV31, messages, true, {{"thinking", false}});
  EXPECT_TRUE(ends_with(plain, "<｜User｜>Why?<｜Assistant｜></think>")) << plain;
  // Without add_generation_prompt nothing follows the last user turn.
  EXPECT_TRUE(ends_with(render(deepseek_templates::kV31, messages, false), "<｜User｜>Why?"));
}

TEST(DeepSeekV31Template, WritesToolCallsAndOutputs) {
  ordered_json messages = ordered_json::array();
  messages.push_back({{"role", "system"}, {"content", "Use tools."}});
  messages.push_back({{"role", "user"}, {"content", "Weather in Paris?"}});
  messages.push_back({{"role", "assistant"},
                      {"content", nullptr},
                      {"tool_calls", {tool_call("get_weather", R"({"city": "Paris"})")}}});
  messages.push_back({{"role", "tool"}, {"content", "18C, sunny"}});
  messages.push_back({{"role", "assistant"}, {"content", "18C and sunny."}});
  const std::string out = render(deepseek_templates::kV31, messages, true);
  EXPECT_EQ(out, kBos +
                     "Use tools.<｜User｜>Weather in Paris?<｜Assistant｜></think>"
                     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"
                     "\"city\": \"Paris\"}"
                     "<｜tool▁call▁end｜><｜tool▁calls▁end｜>" +
                     kEos + "<｜tool▁output▁begin｜>18C, sunny<｜tool▁output▁end｜>18C and sunny." +
                     kEos);
}

}  // namespace
}  // namespace dsv3
