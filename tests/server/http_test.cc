// The server over real HTTP on a loopback port: every endpoint, streaming, and every class
// of bad request, each answered with an OpenAI error object.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "engine/generation.h"
#include "server/harness.h"

namespace dsv3::testing {
namespace {

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RunningServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  httplib::Client client() { return server_->client(); }
  static inline RunningServer* server_ = nullptr;
};

// An OpenAI error object with this status, and the param it blames.
void expect_error(const JsonReply& r, int status, const std::string& param = "",
                  const std::string& code = "") {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  ASSERT_TRUE(r.body.contains("error")) << r.raw;
  const json& e = r.body["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << r.raw;
  EXPECT_TRUE(e["type"].is_string()) << r.raw;
  EXPECT_TRUE(e.contains("param") && e.contains("code")) << r.raw;
  if (!param.empty()) {
    EXPECT_EQ(e["param"], param) << r.raw;
  }
  if (!code.empty()) {
    EXPECT_EQ(e["code"], code) << r.raw;
  }
}

// What the engine generates for this chat on its own (greedy), to compare the server with.
std::string engine_chat_greedy(const std::string& user, int max_tokens) {
  const TextModel& tm = tiny_text_model();
  const auto prompt =
      tm.encode_chat(json::array({{{"role", "user"}, {"content", user}}}), true).value();
  Session session(tm.model(), kTestContext);
  GenerationRequest req{
      .prompt = prompt, .max_new_tokens = max_tokens, .skip_special_in_text = true};
  req.sampling.temperature = 0;
  return generate_text(session, tm.tokenizer(), req).value().text;
}

TEST_F(Http, Health) {
  auto c = client();
  const JsonReply r = get_json(c, "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["status"], "ok");
  EXPECT_EQ(r.body["parallel"], 4);
}

TEST_F(Http, Models) {
  auto c = client();
  JsonReply r = get_json(c, "/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["object"], "list");
  ASSERT_EQ(r.body["data"].size(), 1u);
  EXPECT_EQ(r.body["data"][0]["id"], "tiny");
  EXPECT_EQ(r.body["data"][0]["object"], "model");
  r = get_json(c, "/v1/models/tiny");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["id"], "tiny");
  expect_error(get_json(c, "/v1/models/gpt-5"), 404, "model", "model_not_found");
}

TEST_F(Http, ChatCompletionMatchesTheEngine) {
  auto c = client();
  json body = chat_body("Hello there", 12);
  body["temperature"] = 0;
  const JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(r.body["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(r.body["object"], "chat.completion");
  EXPECT_EQ(r.body["model"], "tiny");
  EXPECT_TRUE(r.body["created"].is_number_integer());
  const json& choice = r.body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], engine_chat_greedy("Hello there", 12));
  EXPECT_TRUE(choice["logprobs"].is_null());
  EXPECT_TRUE(choice["finish_reason"] == "stop" || choice["finish_reason"] == "length");
  const json& usage = r.body["usage"];
  EXPECT_GT(usage["prompt_tokens"], 3);
  EXPECT_GE(usage["completion_tokens"], 1);
  EXPECT_LE(usage["completion_tokens"], 12);
  EXPECT_EQ(usage["total_tokens"],
            usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
}

TEST_F(Http, SeedMakesSamplingReproducible) {
  auto c = client();
  json body = chat_body("Tell me a story", 16, 1234);
  body["temperature"] = 0.9;
  body["ignore_eos"] = true;
  const JsonReply a = post_json(c, "/v1/chat/completions", body);
  const JsonReply b = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["choices"][0]["message"]["content"], b.body["choices"][0]["message"]["content"]);
  EXPECT_EQ(a.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(a.body["usage"]["completion_tokens"], 16);
  // The second request found the prompt in a cache.
  EXPECT_GT(b.body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

TEST_F(Http, StreamedChatEqualsTheWholeAnswer) {
  auto c = client();
  json body = chat_body("Stream this", 20, 77);
  body["ignore_eos"] = true;
  const JsonReply whole = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(whole.status, 200);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const SseReply s = post_stream(c, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_TRUE(s.well_formed) << s.raw;
  EXPECT_TRUE(s.done);
  ASSERT_GE(s.chunks.size(), 3u);
  EXPECT_EQ(s.chunks[0]["choices"][0]["delta"]["role"], "assistant");
  std::string content;
  std::string id = s.chunks[0]["id"];
  for (size_t i = 0; i + 1 < s.chunks.size(); ++i) {
    EXPECT_EQ(s.chunks[i]["object"], "chat.completion.chunk");
    EXPECT_EQ(s.chunks[i]["id"], id);
    const json& delta = s.chunks[i]["choices"][0]["delta"];
    if (delta.contains("content")) content += delta["content"].get<std::string>();
    const bool last_choice = i + 2 == s.chunks.size();
    EXPECT_EQ(s.chunks[i]["choices"][0]["finish_reason"].is_null(), !last_choice);
  }
  EXPECT_EQ(content, whole.body["choices"][0]["message"]["content"]);
  EXPECT_EQ(s.chunks[s.chunks.size() - 2]["choices"][0]["finish_reason"], "length");
  const json& usage_chunk = s.chunks.back();
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 20);
}

TEST_F(Http, SamplingParametersAndStopStrings) {
  auto c = client();
  json body = chat_body("Parameters", 10, 5);
  body.update({{"temperature", 0.7},
               {"top_p", 0.9},
               {"presence_penalty", 1.5},
               {"frequency_penalty", 0.5},
               {"stop", {"zzz", "qqq"}},
               {"max_completion_tokens", 10}});
  JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  // A stop string taken from the middle of an answer cuts it there.
  // (Most of the random model's ids make no text with the tiny tokenizer, hence many tokens.)
  json answer = chat_body("Stops", 300, 99);
  answer["ignore_eos"] = true;
  r = post_json(c, "/v1/chat/completions", answer);
  const std::string full = r.body["choices"][0]["message"]["content"];
  ASSERT_GT(full.size(), 10u);
  size_t begin = full.size() / 2;
  while ((full[begin] & 0xC0) == 0x80) ++begin;
  size_t end = begin + 1;
  while (end < full.size() && (full[end] & 0xC0) == 0x80) ++end;
  const std::string stop = full.substr(begin, end - begin);
  answer["stop"] = stop;
  r = post_json(c, "/v1/chat/completions", answer);
  EXPECT_EQ(r.body["choices"][0]["message"]["content"], full.substr(0, full.find(stop)));
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "stop");
}

TEST_F(Http, ChatLogprobs) {
  auto c = client();
  json body = chat_body("Logprobs", 5);
  body.update({{"logprobs", true}, {"top_logprobs", 2}, {"temperature", 0}, {"ignore_eos", true}});
  const JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& content = r.body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 5u);
  for (const json& t : content) {
    EXPECT_TRUE(t["token"].is_string());
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_TRUE(t["bytes"].is_array());
    ASSERT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);
  }
}

TEST_F(Http, ToolsAreAcceptedAndToolTurnsRender) {
  auto c = client();
  json body = chat_body("What is the weather in Paris?", 8);
  body["tools"] = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Weather of a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  body["tool_choice"] = "auto";
  JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  body["messages"] = json::parse(R"([
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}])");
  r = post_json(c, "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 200) << r.raw;
}

// tool_choice naming a function: the answer is that call (the prompt ends with the markup that
// opens it, so even this random model's text becomes its arguments); "required" forces a call's
// opening markup; choices that cannot be honoured are refused.
TEST_F(Http, ToolChoiceForcesTheCall) {
  auto c = client();
  json body = chat_body("What time is it in Paris?", 8);
  body["tools"] = json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}])");
  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_time"}}}};
  JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& choice = r.body["choices"][0];
  ASSERT_TRUE(choice["message"].contains("tool_calls")) << r.raw;
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["name"], "get_time") << r.raw;
  // 8 tokens of a random model's arguments: the call is cut by max_tokens.
  EXPECT_TRUE(choice["finish_reason"] == "tool_calls" || choice["finish_reason"] == "length") << r.raw;
  const int64_t forced_prompt = r.body["usage"]["prompt_tokens"];

  body["stream"] = true;
  const SseReply s = post_stream(c, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200) << s.raw;
  std::string streamed_name;
  for (const json& chunk : s.chunks) {
    if (chunk["choices"].empty()) continue;
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("tool_calls")) streamed_name = delta["tool_calls"][0]["function"]["name"];
  }
  EXPECT_EQ(streamed_name, "get_time") << s.raw;
  body.erase("stream");

  body["tool_choice"] = "auto";
  r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  const int64_t auto_prompt = r.body["usage"]["prompt_tokens"];
  EXPECT_GT(forced_prompt, auto_prompt);
  body["tool_choice"] = "required";
  r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_GT(r.body["usage"]["prompt_tokens"].get<int64_t>(), auto_prompt);

  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "no_such_tool"}}}};
  expect_error(post_json(c, "/v1/chat/completions", body), 400, "tool_choice");
  body.erase("tools");
  body["tool_choice"] = "required";
  expect_error(post_json(c, "/v1/chat/completions", body), 400, "tool_choice");
}

// Strict functions the model calls itself: "required" opens a call (the model picks the
// function: the opening markup is constrained to the offered ones), and the strict function's
// arguments follow its schema from there; "auto" leaves the text free until the model opens a
// call. This random model's arguments of the strict function come out valid every time.
TEST_F(Http, StrictArgumentsOfCallsTheModelOpens) {
  auto c = client();
  const json params = json::parse(R"({"type": "object", "properties": {
      "city": {"type": "string", "maxLength": 8}, "days": {"type": "integer"},
      "units": {"enum": ["C", "F"]}}, "required": ["city", "days", "units"],
      "additionalProperties": false})");
  json body = chat_body("Weather in Paris?", 256);  // room for the longest arguments
  const json weather = {{"type", "function"},
                        {"function", {{"name", "get_weather"}, {"strict", true}, {"parameters", params}}}};
  const json time = {{"type", "function"},
                     {"function", {{"name", "get_time"}, {"parameters", {{"type", "object"}}}}}};
  int strict_calls = 0;
  // The strict function alone, then beside one that is not strict (which this model prefers).
  for (const json& tools : {json::array({weather}), json::array({weather, time})})
  for (const char* choice : {"required", "auto"}) {
    body["tools"] = tools;
    body["tool_choice"] = choice;
    for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
      body["seed"] = seed;
      body["temperature"] = 1.0;
      const JsonReply r = post_json(c, "/v1/chat/completions", body);
      ASSERT_EQ(r.status, 200) << r.raw;
      const json& message = r.body["choices"][0]["message"];
      if (std::string(choice) == "required" && !message.contains("tool_calls")) {
        // A call of the function that is not strict: its arguments are this model's noise, so
        // the call does not parse, but it was opened with an offered name.
        ASSERT_EQ(tools.size(), 2u) << r.raw;
        EXPECT_TRUE(message["content"].get<std::string>().starts_with(
            "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n"))
            << r.raw;
      }
      if (!message.contains("tool_calls")) continue;
      json calls = message["tool_calls"];
      // A call the token limit cut is returned as it stands (its arguments unfinished).
      if (r.body["choices"][0]["finish_reason"] == "length") calls.erase(calls.size() - 1);
      for (const json& call : calls) {
        const std::string name = call["function"]["name"];
        EXPECT_TRUE(name == "get_weather" || name == "get_time") << r.raw;
        if (name != "get_weather") continue;
        const json args = json::parse(call["function"]["arguments"].get<std::string>(), nullptr, false);
        ASSERT_TRUE(args.is_object()) << r.raw;
        EXPECT_TRUE(args["city"].is_string() && args["days"].is_number_integer() &&
                    (args["units"] == "C" || args["units"] == "F") && args.size() == 3)
            << args.dump();
        ++strict_calls;
      }
    }
  }
  EXPECT_GT(strict_calls, 0);
}

// n choices: choice i is what a request with seed + i alone gives, streamed or not; the usage
// counts the prompt once and every choice's tokens.
TEST_F(Http, SeveralChoicesAreIndependentSamples) {
  auto c = client();
  json body = chat_body("Tell me three things", 6, 500);
  body["temperature"] = 1.0;
  body["ignore_eos"] = true;
  body["n"] = 3;
  const JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["choices"].size(), 3u) << r.raw;
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 18) << r.raw;
  json single = body;
  single.erase("n");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.body["choices"][i]["index"], i);
    single["seed"] = 500 + i;
    const JsonReply alone = post_json(c, "/v1/chat/completions", single);
    ASSERT_EQ(alone.status, 200) << alone.raw;
    EXPECT_EQ(r.body["choices"][i]["message"]["content"], alone.body["choices"][0]["message"]["content"])
        << "choice " << i;
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], alone.body["usage"]["prompt_tokens"]);
  }
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const SseReply s = post_stream(c, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_TRUE(s.well_formed && s.done) << s.raw;
  std::vector<std::string> content(3);
  int finished = 0;
  for (const json& chunk : s.chunks) {
    if (chunk.contains("usage") && !chunk["usage"].is_null()) {
      EXPECT_EQ(chunk["usage"]["completion_tokens"], 18) << chunk.dump();
    }
    for (const json& choice : chunk["choices"]) {
      const int i = choice["index"];
      ASSERT_TRUE(i >= 0 && i < 3) << chunk.dump();
      if (choice["delta"].contains("content")) content[i] += choice["delta"]["content"].get<std::string>();
      finished += !choice["finish_reason"].is_null();
    }
  }
  EXPECT_EQ(finished, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(content[i], r.body["choices"][i]["message"]["content"]) << i;
}

TEST_F(Http, CompletionsFromTextAndTokens) {
  auto c = client();
  JsonReply r = post_json(c, "/v1/completions",
                          json{{"model", "tiny"},
                               {"prompt", "the cat"},
                               {"max_tokens", 8},
                               {"temperature", 0},
                               {"logprobs", 2}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "text_completion");
  EXPECT_TRUE(r.body["id"].get<std::string>().starts_with("cmpl-"));
  const json& choice = r.body["choices"][0];
  // What the engine generates alone.
  const TextModel& tm = tiny_text_model();
  Session session(tm.model(), kTestContext);
  GenerationRequest req{.prompt = tm.encode_prompt("the cat").value(), .max_new_tokens = 8};
  req.sampling.temperature = 0;
  const auto want = generate_text(session, tm.tokenizer(), req).value();
  EXPECT_EQ(choice["text"], want.text);
  EXPECT_EQ(choice["logprobs"]["tokens"].size(), want.tokens.size());
  EXPECT_EQ(choice["logprobs"]["token_logprobs"].size(), want.tokens.size());
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], req.prompt.size());

  json tokens = {{"prompt", req.prompt}, {"max_tokens", 8}, {"temperature", 0}};
  r = post_json(c, "/v1/completions", tokens);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["choices"][0]["text"], want.text);

  tokens["stream"] = true;
  const SseReply s = post_stream(c, "/v1/completions", tokens);
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.done && s.well_formed) << s.raw;
  std::string text;
  for (const json& chunk : s.chunks) text += chunk["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, want.text);
  EXPECT_FALSE(s.chunks.back()["choices"][0]["finish_reason"].is_null());
}

TEST_F(Http, MalformedBodies) {
  auto c = client();
  expect_error(post_json(c, "/v1/chat/completions", std::string("{\"messages\": [")), 400, "",
               "invalid_json");
  expect_error(post_json(c, "/v1/chat/completions", std::string("[1, 2]")), 400, "",
               "invalid_json");
  expect_error(post_json(c, "/v1/chat/completions", std::string("")), 400, "", "invalid_json");
  expect_error(post_json(c, "/v1/completions", std::string("{\"prompt\": \"a\xff\xfe b\"}")), 400,
               "", "invalid_json");
  expect_error(post_json(c, "/v1/completions", std::string("{\"prompt\": \"\\udc00\"}")), 400, "",
               "invalid_json");
}

TEST_F(Http, WrongTypesAndOutOfRangeValues) {
  auto c = client();
  auto with = [](json extra) {
    json body = chat_body("x", 4);
    body.update(extra);
    return body;
  };
  expect_error(post_json(c, "/v1/chat/completions", with({{"temperature", "hot"}})), 400,
               "temperature");
  expect_error(post_json(c, "/v1/chat/completions", with({{"temperature", 7}})), 400,
               "temperature");
  expect_error(post_json(c, "/v1/chat/completions", with({{"top_p", -0.5}})), 400, "top_p");
  expect_error(post_json(c, "/v1/chat/completions", with({{"presence_penalty", 9}})), 400,
               "presence_penalty");
  expect_error(post_json(c, "/v1/chat/completions", with({{"max_tokens", -1}})), 400, "max_tokens");
  expect_error(post_json(c, "/v1/chat/completions", with({{"stream", 1}})), 400, "stream");
  expect_error(post_json(c, "/v1/chat/completions", with({{"messages", "hi"}})), 400, "messages");
  expect_error(post_json(c, "/v1/chat/completions", json{{"model", "tiny"}}), 400, "messages");
  expect_error(post_json(c, "/v1/chat/completions", with({{"n", 17}})), 400, "n");
  expect_error(post_json(c, "/v1/completions", json{{"prompt", {1, 2, 5000}}}), 400, "prompt");
  expect_error(post_json(c, "/v1/completions", json{{"prompt", true}}), 400, "prompt");
}

TEST_F(Http, PromptLongerThanTheContext) {
  auto c = client();
  const std::string long_text(3000, 'z');
  expect_error(post_json(c, "/v1/chat/completions", chat_body(long_text, 4)), 400, "messages",
               "context_length_exceeded");
  expect_error(post_json(c, "/v1/completions", json{{"prompt", long_text}}), 400, "prompt",
               "context_length_exceeded");
}

TEST_F(Http, UnknownEndpoint) {
  auto c = client();
  expect_error(get_json(c, "/v1/engines"), 404, "", "not_found");
  expect_error(post_json(c, "/v1/embeddings", json{{"input", "x"}}), 404, "", "not_found");
}

TEST_F(Http, Metrics) {
  auto c = client();
  ASSERT_EQ(post_json(c, "/v1/chat/completions", chat_body("count me", 4)).status, 200);
  // A request is counted once its response is written out, which can be just after the client
  // has read it: look again for up to a second.
  const std::string counted = "dsv3_requests_total{endpoint=\"/v1/chat/completions\",code=\"200\"}";
  std::string m;
  for (int tries = 0; tries < 100; ++tries) {
    auto res = c.Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    m = res->body;
    if (metric_value(m, counted) >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const char* name :
       {"dsv3_requests_running", "dsv3_requests_waiting", "dsv3_prompt_tokens_total",
        "dsv3_generation_tokens_total", "dsv3_generation_tokens_per_second",
        "dsv3_kv_cache_usage_ratio", "dsv3_kv_cache_capacity_tokens", "dsv3_mtp_acceptance_ratio",
        "dsv3_requests_cancelled_total", "dsv3_batch_steps_total"}) {
    EXPECT_GE(metric_value(m, name), 0) << name << "\n" << m;
  }
  EXPECT_GE(metric_value(m, counted), 1) << m;
  EXPECT_GT(metric_value(m, "dsv3_generation_tokens_total"), 0);
  EXPECT_EQ(metric_value(m, "dsv3_kv_cache_capacity_tokens"), 4 * kTestContext);
  EXPECT_EQ(metric_value(m, "dsv3_mtp_acceptance_ratio"), 0);
}

TEST_F(Http, ConcurrentRequestsShareTheBatch) {
  constexpr int kClients = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = client();
      json body = chat_body("Client " + std::to_string(i), 24, i);
      body["ignore_eos"] = true;
      const JsonReply r = post_json(c, "/v1/chat/completions", body);
      if (r.status == 200 && r.body["usage"]["completion_tokens"] == 24) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
}

// ---- servers of their own ----------------------------------------------------------------------

TEST(HttpAuth, ApiKeyIsRequiredEverywhere) {
  auto options = test_options();
  options.api_key = "sekret";
  RunningServer server(options);
  auto anonymous = server.client();
  expect_error(get_json(anonymous, "/v1/models"), 401, "", "invalid_api_key");
  expect_error(get_json(anonymous, "/health"), 401);
  expect_error(get_json(anonymous, "/metrics"), 401);
  expect_error(post_json(anonymous, "/v1/chat/completions", chat_body("hi", 2)), 401);
  auto wrong = server.client("sekreT");
  expect_error(post_json(wrong, "/v1/chat/completions", chat_body("hi", 2)), 401);
  auto right = server.client("sekret");
  EXPECT_EQ(get_json(right, "/v1/models").status, 200);
  EXPECT_EQ(post_json(right, "/v1/chat/completions", chat_body("hi", 2)).status, 200);
}

TEST(HttpLimits, BodyOverTheLimit) {
  auto options = test_options();
  options.max_body_bytes = 4096;
  RunningServer server(options);
  auto c = server.client();
  const JsonReply r = post_json(c, "/v1/chat/completions", chat_body(std::string(10000, 'a'), 2));
  expect_error(r, 413, "", "payload_too_large");
  EXPECT_EQ(post_json(c, "/v1/chat/completions", chat_body("small", 2)).status, 200);
}

TEST(HttpLimits, FullQueueAnswers429AndDisconnectFreesTheSequence) {
  auto options = test_options(kLongContext);
  options.scheduler.parallel = 1;
  options.scheduler.max_queue = 0;
  RunningServer server(options, tiny_text_model_long());
  json endless = chat_body("go on", 100000);
  endless["ignore_eos"] = true;
  endless["stream"] = true;
  auto wait_until = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  };
  auto running = [&] { return server.server().scheduler().stats().running; };

  std::atomic<bool> hang_up{false};
  std::thread streamer([&] {
    auto c = server.client();
    const SseReply s =
        post_stream(c, "/v1/chat/completions", endless, [&](size_t) { return !hang_up.load(); });
    EXPECT_EQ(s.status, 200);
    EXPECT_FALSE(s.done);
  });
  ASSERT_TRUE(wait_until([&] { return running() == 1; }));
  auto c = server.client();
  const JsonReply busy = post_json(c, "/v1/chat/completions", chat_body("me too", 2));
  expect_error(busy, 429, "", "queue_full");

  hang_up = true;  // the client goes away mid-stream
  streamer.join();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return running() == 0; })) << "the sequence was not freed";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(server.server().scheduler().stats().requests_cancelled, 1);
  EXPECT_EQ(post_json(c, "/v1/chat/completions", chat_body("now me", 2)).status, 200);
}

TEST(HttpLimits, ClientLeavingAWholeAnswerAlsoFreesIt) {
  auto options = test_options(kLongContext);
  options.scheduler.parallel = 1;
  RunningServer server(options, tiny_text_model_long());
  json endless = chat_body("go on", 100000);
  endless["ignore_eos"] = true;
  std::thread client([&] {
    auto c = server.client();
    c.set_read_timeout(0, 300000);  // gives up after 0.3 s and closes the connection
    (void)c.Post("/v1/chat/completions", endless.dump(), "application/json");
  });
  client.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.server().scheduler().stats().requests_cancelled == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server.server().scheduler().stats().requests_cancelled, 1);
  EXPECT_EQ(server.server().scheduler().stats().running, 0);
}

}  // namespace
}  // namespace dsv3::testing
