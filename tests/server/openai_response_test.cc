// Response objects from fixed job output: R1 reasoning goes to reasoning_content, DeepSeek
// tool-call markup to tool_calls, streamed and whole.
#include "server/openai_response.h"

#include <gtest/gtest.h>

#include "server/harness.h"

namespace dsv3::server {
namespace {

using nlohmann::ordered_json;

std::vector<JobOutput> pieces(const std::vector<std::string>& texts, FinishReason finish) {
  std::vector<JobOutput> out;
  for (const auto& t : texts) out.push_back(JobOutput{.text = t});
  out.back().done = true;
  out.back().finish = finish;
  for (auto& o : out) {
    o.prompt_tokens = 10;
    o.completion_tokens = 5;
  }
  return out;
}

const ResponseIdentity kWho{.id = "chatcmpl-x", .created = 1, .model = "tiny"};

TEST(OpenAiResponse, ReasoningIsSplitFromTheAnswer) {
  const auto outs =
      pieces({"<thi", "nk>Let me th", "ink.</th", "ink>The answer", " is 4."}, FinishReason::kStop);
  auto whole = make_chat_builder(kWho, testing::tiny_text_model().tokenizer(), {});
  auto streamed = make_chat_builder(kWho, testing::tiny_text_model().tokenizer(), {});
  std::string reasoning, content;
  std::string finish;
  for (const auto& o : outs) {
    whole->add(o);
    for (const auto& chunk : streamed->stream_chunks(o)) {
      EXPECT_EQ(chunk["object"], "chat.completion.chunk");
      const auto& delta = chunk["choices"][0]["delta"];
      if (delta.contains("reasoning_content"))
        reasoning += delta["reasoning_content"].get<std::string>();
      if (delta.contains("content")) content += delta["content"].get<std::string>();
      if (!chunk["choices"][0]["finish_reason"].is_null())
        finish = chunk["choices"][0]["finish_reason"];
    }
  }
  EXPECT_EQ(reasoning, "Let me think.");
  EXPECT_EQ(content, "The answer is 4.");
  EXPECT_EQ(finish, "stop");
  const ordered_json r = whole->response();
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"]["reasoning_content"], "Let me think.");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "The answer is 4.");
  EXPECT_EQ(r["usage"]["total_tokens"], 15);
}

TEST(OpenAiResponse, PromptThatOpensThinkingStartsInReasoning) {
  auto b =
      make_chat_builder(kWho, testing::tiny_text_model().tokenizer(), {.opens_reasoning = true});
  for (const auto& o : pieces({"hmm</think>", "yes"}, FinishReason::kStop)) b->add(o);
  const ordered_json r = b->response();
  EXPECT_EQ(r["choices"][0]["message"]["reasoning_content"], "hmm");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "yes");
}

TEST(OpenAiResponse, ToolCallsBecomeToolCallsWhenToolsWereOffered) {
  const std::vector<std::string> texts = {
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n",
      "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"};
  auto whole =
      make_chat_builder(kWho, testing::tiny_text_model().tokenizer(), {.parse_tool_calls = true});
  auto streamed =
      make_chat_builder(kWho, testing::tiny_text_model().tokenizer(), {.parse_tool_calls = true});
  ordered_json streamed_calls = ordered_json::array();
  std::string finish;
  for (const auto& o : pieces(texts, FinishReason::kStop)) {
    whole->add(o);
    for (const auto& chunk : streamed->stream_chunks(o)) {
      const auto& delta = chunk["choices"][0]["delta"];
      if (delta.contains("tool_calls")) {
        for (const auto& c : delta["tool_calls"]) streamed_calls.push_back(c);
      }
      if (delta.contains("content")) {
        EXPECT_EQ(delta["content"], "");
      }
      if (!chunk["choices"][0]["finish_reason"].is_null())
        finish = chunk["choices"][0]["finish_reason"];
    }
  }
  const ordered_json r = whole->response();
  const auto& message = r["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_null());
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_TRUE(message["tool_calls"][0]["id"].get<std::string>().starts_with("call_"));
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "tool_calls");
  ASSERT_EQ(streamed_calls.size(), 1u);
  EXPECT_EQ(streamed_calls[0]["index"], 0);
  EXPECT_EQ(streamed_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(finish, "tool_calls");

  // Without tools in the request the markup is left alone.
  auto plain = make_chat_builder(kWho, testing::tiny_text_model().tokenizer(), {});
  for (const auto& o : pieces(texts, FinishReason::kStop)) plain->add(o);
  EXPECT_EQ(plain->response()["choices"][0]["message"]["content"], texts[0] + texts[1]);
}

TEST(OpenAiResponse, FinishReasons) {
  EXPECT_EQ(finish_reason_json(FinishReason::kStop, false), "stop");
  EXPECT_EQ(finish_reason_json(FinishReason::kStop, true), "tool_calls");
  EXPECT_EQ(finish_reason_json(FinishReason::kLength, false), "length");
  EXPECT_EQ(finish_reason_json(FinishReason::kContextFull, false), "length");
}

TEST(OpenAiResponse, CompletionLogprobsAreParallelArrays) {
  auto b = make_completion_builder({.id = "cmpl-x", .created = 1, .model = "tiny"},
                                   testing::tiny_text_model().tokenizer(), true);
  JobOutput o{.text = "ab", .done = true, .finish = FinishReason::kLength};
  o.logprobs = {TokenLogprob{.id = 100, .logprob = -0.5f, .top = {{100, -0.5f}, {101, -1.5f}}},
                TokenLogprob{.id = 101, .logprob = -1.0f}};
  b->add(o);
  const ordered_json r = b->response();
  const auto& lp = r["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), 2u);
  EXPECT_EQ(lp["token_logprobs"][0], -0.5f);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(lp["text_offset"][0], 0);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["choices"][0]["text"], "ab");
}

}  // namespace
}  // namespace dsv3::server
