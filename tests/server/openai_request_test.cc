// Request parsing: defaults, every field's type and range, and the error objects.
#include "server/openai_request.h"

#include <gtest/gtest.h>

namespace dsv3::server {
namespace {

using nlohmann::ordered_json;

ordered_json chat(ordered_json extra = ordered_json::object()) {
  ordered_json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  for (auto& [k, v] : extra.items()) body[k] = v;
  return body;
}

// The param an invalid request is blamed on ("" when it is accepted).
std::string refused_param(const ordered_json& body) {
  auto r = parse_chat_request(body);
  return r.ok() ? "" : "!" + r.error().param;
}

TEST(OpenAiRequest, DefaultsFollowOpenAi) {
  auto r = parse_chat_request(chat());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->params.sampling.temperature, 1.0f);
  EXPECT_EQ(r->params.sampling.top_p, 1.0f);
  EXPECT_EQ(r->params.sampling.top_k, 0);
  EXPECT_EQ(r->params.max_tokens, 0);
  EXPECT_FALSE(r->params.stream);
  EXPECT_EQ(r->params.top_logprobs, -1);
  EXPECT_TRUE(r->tools.is_null());
  EXPECT_EQ(r->messages, ordered_json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST(OpenAiRequest, ReadsEveryParameter) {
  auto r = parse_chat_request(chat({{"max_completion_tokens", 7},
                                    {"temperature", 0.5},
                                    {"top_p", 0.9},
                                    {"seed", 42},
                                    {"stop", "END"},
                                    {"presence_penalty", 1},
                                    {"frequency_penalty", -0.5},
                                    {"logprobs", true},
                                    {"top_logprobs", 3},
                                    {"stream", true},
                                    {"stream_options", {{"include_usage", true}}},
                                    {"user", "someone"},
                                    {"metadata", {{"a", 1}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const GenerationParams& p = r->params;
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 0.9f);
  EXPECT_EQ(p.sampling.seed, 42u);
  EXPECT_EQ(p.stop, std::vector<std::string>{"END"});
  EXPECT_FLOAT_EQ(p.sampling.presence_penalty, 1.0f);
  EXPECT_FLOAT_EQ(p.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
}

TEST(OpenAiRequest, WrongTypesAreRefusedNamingTheField) {
  EXPECT_EQ(refused_param(chat({{"temperature", "hot"}})), "!temperature");
  EXPECT_EQ(refused_param(chat({{"max_tokens", 1.5}})), "!max_tokens");
  EXPECT_EQ(refused_param(chat({{"stream", "yes"}})), "!stream");
  EXPECT_EQ(refused_param(chat({{"stop", 5}})), "!stop");
  EXPECT_EQ(refused_param(chat({{"stop", {"a", 1}}})), "!stop");
  EXPECT_EQ(refused_param(chat({{"seed", "x"}})), "!seed");
  EXPECT_EQ(refused_param(chat({{"model", 3}})), "!model");
  EXPECT_EQ(refused_param(chat({{"messages", "hi"}})), "!messages");
  EXPECT_EQ(refused_param(chat({{"messages", {"hi"}}})), "!messages[0]");
  EXPECT_EQ(refused_param(chat({{"messages", {{{"role", 1}}}}})), "!messages[0].role");
  EXPECT_EQ(refused_param(chat({{"messages", {{{"role", "user"}, {"content", 5}}}}})),
            "!messages[0].content");
  EXPECT_EQ(refused_param(chat({{"tools", {{{"type", "function"}}}}})), "!tools[0].function");
  EXPECT_EQ(refused_param(chat({{"tool_choice", 3}})), "!tool_choice");
  EXPECT_EQ(refused_param(chat({{"stream_options", true}})), "!stream_options");
  EXPECT_EQ(refused_param(chat({{"logprobs", 1}})), "!logprobs");
  // 5.0 is an integer to a JavaScript client.
  EXPECT_EQ(refused_param(chat({{"max_tokens", 5.0}})), "");
}

TEST(OpenAiRequest, OutOfRangeValuesAreRefused) {
  EXPECT_EQ(refused_param(chat({{"temperature", 2.5}})), "!temperature");
  EXPECT_EQ(refused_param(chat({{"temperature", -1}})), "!temperature");
  EXPECT_EQ(refused_param(chat({{"top_p", 1.5}})), "!top_p");
  EXPECT_EQ(refused_param(chat({{"presence_penalty", 3}})), "!presence_penalty");
  EXPECT_EQ(refused_param(chat({{"frequency_penalty", -2.5}})), "!frequency_penalty");
  EXPECT_EQ(refused_param(chat({{"max_tokens", 0}})), "!max_tokens");
  EXPECT_EQ(refused_param(chat({{"logprobs", true}, {"top_logprobs", 21}})), "!top_logprobs");
  EXPECT_EQ(refused_param(chat({{"top_logprobs", 2}})), "!top_logprobs");  // without logprobs
  EXPECT_EQ(refused_param(chat({{"n", 17}})), "!n");
  EXPECT_EQ(refused_param(chat({{"messages", ordered_json::array()}})), "!messages");
  EXPECT_EQ(refused_param(chat({{"messages", {{{"role", "wizard"}, {"content", "x"}}}}})),
            "!messages[0].role");
  EXPECT_EQ(refused_param(chat({{"response_format", {{"type", "json_schema"}}}})),
            "!response_format");
  EXPECT_EQ(refused_param(chat({{"tool_choice", "sometimes"}})), "!tool_choice");
  // Boundaries are accepted.
  EXPECT_EQ(refused_param(chat({{"temperature", 0}, {"top_p", 1}, {"presence_penalty", -2}})), "");
}

TEST(OpenAiRequest, MissingMessagesAreRefused) {
  auto r = parse_chat_request(ordered_json{{"model", "m"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().param, "messages");
  EXPECT_EQ(r.error().status, 400);
  const auto j = r.error().to_json();
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "messages");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_TRUE(j["error"]["message"].is_string());
}

TEST(OpenAiRequest, NullMeansNotGiven) {
  auto r =
      parse_chat_request(chat({{"temperature", nullptr}, {"stop", nullptr}, {"tools", nullptr}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->params.sampling.temperature, 1.0f);
}

TEST(OpenAiRequest, TopPZeroMeansGreedy) {
  auto r = parse_chat_request(chat({{"top_p", 0}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->params.sampling.greedy());
}

TEST(OpenAiRequest, MessagesAreNormalisedForTheTemplate) {
  auto r = parse_chat_request(chat({{"messages", ordered_json::parse(R"([
          {"role": "developer", "content": "Be brief."},
          {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
          {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "f", "arguments": {"x": 1}}}]},
          {"role": "tool", "tool_call_id": "call_1", "content": "42"},
          {"role": "assistant", "content": null}
        ])")}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& m = r->messages;
  EXPECT_EQ(m[0]["role"], "system");
  EXPECT_EQ(m[1]["content"], "ab");
  EXPECT_TRUE(m[2]["content"].is_null());
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"], "{\"x\":1}");
  EXPECT_EQ(m[3]["tool_call_id"], "call_1");
  EXPECT_EQ(m[4]["content"], "");  // null content without tool calls becomes text
}

TEST(OpenAiRequest, ImagePartsAreRefused) {
  EXPECT_EQ(
      refused_param(chat(
          {{"messages",
            {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", "x"}}}}}}}})),
      "!messages[0].content[0].type");
}

TEST(OpenAiRequest, ToolsAndToolChoice) {
  const ordered_json tools = ordered_json::parse(
      R"([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])");
  auto r = parse_chat_request(chat({{"tools", tools}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->parse_tool_calls);
  EXPECT_EQ(r->tools, tools);
  r = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "none"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->parse_tool_calls);
  EXPECT_TRUE(r->tools.is_null());
  r = parse_chat_request(
      chat({{"tools", tools},
            {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->parse_tool_calls);
}

TEST(OpenAiRequest, CompletionPrompts) {
  auto r = parse_completion_request({{"prompt", "once upon"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->prompt_text, "once upon");
  EXPECT_EQ(r->params.max_tokens, 16);  // OpenAI's default for completions
  r = parse_completion_request({{"prompt", {5, 6, 7}}, {"logprobs", 2}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prompt_tokens, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(r->params.top_logprobs, 2);
  r = parse_completion_request({{"prompt", {"one"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->prompt_text, "one");
  r = parse_completion_request({{"prompt", {{1, 2}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prompt_tokens, (std::vector<int32_t>{1, 2}));
  for (const ordered_json& bad :
       {ordered_json{{"prompt", {"a", "b"}}}, ordered_json{{"prompt", {1, -2}}},
        ordered_json{{"prompt", ordered_json::array()}}, ordered_json{{"prompt", 3}},
        ordered_json{{"prompt", "x"}, {"echo", true}},
        ordered_json{{"prompt", "x"}, {"logprobs", 30}}, ordered_json::object()}) {
    auto e = parse_completion_request(bad);
    EXPECT_FALSE(e.ok()) << bad.dump();
  }
}

TEST(OpenAiRequest, BodiesThatAreNotJsonObjects) {
  const std::vector<std::string> bodies = {"{",
                                           "[1, 2]",
                                           "\"text\"",
                                           "{\"a\": 1} trailing",
                                           "{\"a\": 1e999}",
                                           std::string("{\"a\": \"\xff\xfe\"}"),
                                           "{\"a\": \"\\ud800\"}",
                                           ""};
  for (const std::string& body : bodies) {
    auto r = parse_json_body(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().code, "invalid_json");
    // The message quotes the bytes it stopped at; the error object must still be valid JSON.
    EXPECT_FALSE(
        nlohmann::json::parse(dump_json(r.error().to_json()), nullptr, false).is_discarded());
  }
}

}  // namespace
}  // namespace dsv3::server
