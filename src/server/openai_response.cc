#include "server/openai_response.h"

#include <random>

#include "server/api_error.h"
#include "tokenizer/utf8.h"

namespace dsv3::server {

namespace {

using nlohmann::ordered_json;

ordered_json bytes_json(std::string_view bytes) {
  ordered_json b = ordered_json::array();
  for (unsigned char c : bytes) b.push_back(int(c));
  return b;
}

// A token's text for JSON: its bytes, with a piece of a UTF-8 character shown as U+FFFD
// (the exact bytes go in "bytes").
std::string token_text(const Tokenizer& tok, int32_t id) { return utf8_lossy(tok.token_bytes(id)); }

ordered_json base_object(const ResponseIdentity& who, const char* object) {
  return {{"id", who.id}, {"object", object}, {"created", who.created}, {"model", who.model}};
}

// ---- chat ------------------------------------------------------------------------------------

class ChatBuilder : public ResponseBuilder {
 public:
  ChatBuilder(ResponseIdentity who, const Tokenizer& tokenizer, const ChatOptions& options)
      : who_(std::move(who)),
        tokenizer_(tokenizer),
        options_(options),
        splitter_(options.opens_reasoning) {
    if (options.parse_tool_calls) {
      tool_parser_.emplace();
      (void)tool_parser_->feed(options_.forced_text);  // markup only: no content, no call yet
    }
  }

  std::vector<ordered_json> stream_chunks(const JobOutput& out) override {
    const Delta d = take(out);
    std::vector<ordered_json> chunks;
    ordered_json delta = ordered_json::object();
    if (!role_sent_) {
      delta["role"] = "assistant";
      delta["content"] = "";
      role_sent_ = true;
    }
    if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
    if (!d.content.empty()) delta["content"] = d.content;
    if (!d.calls.empty()) {
      ordered_json calls = ordered_json::array();
      for (size_t i = 0; i < d.calls.size(); ++i) {
        ordered_json c = d.calls[i];
        c["index"] = tool_calls_.size() - d.calls.size() + i;
        calls.push_back(std::move(c));
      }
      delta["tool_calls"] = std::move(calls);
    }
    if (!delta.empty() || !d.logprobs.empty()) {
      chunks.push_back(
          chunk(std::move(delta),
                d.logprobs.empty() ? ordered_json() : ordered_json{{"content", d.logprobs}},
                ordered_json()));
    }
    if (out.done) {
      chunks.push_back(chunk(ordered_json::object(), ordered_json(),
                             finish_reason_json(out.finish, !tool_calls_.empty())));
    }
    return chunks;
  }

  ordered_json usage_chunk() const override {
    ordered_json c = base_object(who_, "chat.completion.chunk");
    c["choices"] = ordered_json::array();
    c["usage"] = usage_json(last_);
    return c;
  }

  void add(const JobOutput& out) override { take(out); }

  ordered_json response() const override {
    ordered_json message = {{"role", "assistant"}};
    message["content"] =
        content_.empty() && !tool_calls_.empty() ? ordered_json() : ordered_json(content_);
    if (!reasoning_.empty()) message["reasoning_content"] = reasoning_;
    if (!tool_calls_.empty()) message["tool_calls"] = tool_calls_;
    ordered_json r = base_object(who_, "chat.completion");
    r["choices"] = ordered_json::array(
        {{{"index", 0},
          {"message", std::move(message)},
          {"logprobs", options_.logprobs ? ordered_json{{"content", logprobs_}} : ordered_json()},
          {"finish_reason", finish_reason_json(last_.finish, !tool_calls_.empty())}}});
    r["usage"] = usage_json(last_);
    return r;
  }

 private:
  struct Delta {
    std::string reasoning, content;
    std::vector<ordered_json> calls;
    ordered_json logprobs = ordered_json::array();
  };

  // Runs new output through the reasoning splitter and the tool-call parser.
  Delta take(const JobOutput& out) {
    last_ = out;
    Delta d;
    std::vector<ReasoningSplitter::Segment> segments = splitter_.feed(out.text);
    if (out.done) {
      for (auto& s : splitter_.flush()) segments.push_back(std::move(s));
    }
    std::string content;
    for (const auto& s : segments) (s.reasoning ? d.reasoning : content) += s.text;
    if (tool_parser_) {
      ToolCallParser::Step step = tool_parser_->feed(content);
      if (out.done) {
        ToolCallParser::Step tail = tool_parser_->flush();
        step.content += tail.content;
        for (auto& c : tail.calls) step.calls.push_back(std::move(c));
      }
      d.content = std::move(step.content);
      for (const ToolCall& call : step.calls) {
        ordered_json c = {{"id", random_id("call_")},
                          {"type", "function"},
                          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
        tool_calls_.push_back(c);
        d.calls.push_back(std::move(c));
      }
    } else {
      d.content = std::move(content);
    }
    for (const TokenLogprob& lp : out.logprobs) d.logprobs.push_back(logprob_json(lp));
    reasoning_ += d.reasoning;
    content_ += d.content;
    for (const auto& lp : d.logprobs) logprobs_.push_back(lp);
    return d;
  }

  ordered_json logprob_json(const TokenLogprob& lp) const {
    ordered_json top = ordered_json::array();
    for (const auto& [id, logprob] : lp.top) {
      top.push_back({{"token", token_text(tokenizer_, id)},
                     {"logprob", logprob},
                     {"bytes", bytes_json(tokenizer_.token_bytes(id))}});
    }
    return {{"token", token_text(tokenizer_, lp.id)},
            {"logprob", lp.logprob},
            {"bytes", bytes_json(tokenizer_.token_bytes(lp.id))},
            {"top_logprobs", std::move(top)}};
  }

  ordered_json chunk(ordered_json delta, ordered_json logprobs, ordered_json finish) const {
    ordered_json c = base_object(who_, "chat.completion.chunk");
    c["choices"] = ordered_json::array({{{"index", 0},
                                         {"delta", std::move(delta)},
                                         {"logprobs", std::move(logprobs)},
                                         {"finish_reason", std::move(finish)}}});
    return c;
  }

  ResponseIdentity who_;
  const Tokenizer& tokenizer_;
  ChatOptions options_;
  ReasoningSplitter splitter_;
  std::optional<ToolCallParser> tool_parser_;
  bool role_sent_ = false;
  std::string reasoning_, content_;
  ordered_json tool_calls_ = ordered_json::array();
  ordered_json logprobs_ = ordered_json::array();
  JobOutput last_;
};

// ---- completions -----------------------------------------------------------------------------

class CompletionBuilder : public ResponseBuilder {
 public:
  CompletionBuilder(ResponseIdentity who, const Tokenizer& tokenizer, bool logprobs)
      : who_(std::move(who)), tokenizer_(tokenizer), logprobs_(logprobs) {}

  std::vector<ordered_json> stream_chunks(const JobOutput& out) override {
    last_ = out;
    std::vector<ordered_json> chunks;
    ordered_json lp = logprobs_json(out.logprobs);
    if (!out.text.empty() || !out.logprobs.empty()) {
      chunks.push_back(chunk(out.text, logprobs_ ? std::move(lp) : ordered_json(), ordered_json()));
    }
    if (out.done)
      chunks.push_back(chunk("", ordered_json(), finish_reason_json(out.finish, false)));
    return chunks;
  }

  ordered_json usage_chunk() const override {
    ordered_json c = base_object(who_, "text_completion");
    c["choices"] = ordered_json::array();
    c["usage"] = usage_json(last_);
    return c;
  }

  void add(const JobOutput& out) override {
    last_ = out;
    text_ += out.text;
    const ordered_json lp = logprobs_json(out.logprobs);
    for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
      for (const auto& v : lp[key]) all_logprobs_[key].push_back(v);
    }
  }

  ordered_json response() const override {
    ordered_json r = base_object(who_, "text_completion");
    r["choices"] =
        ordered_json::array({{{"text", text_},
                              {"index", 0},
                              {"logprobs", logprobs_ ? all_logprobs_ : ordered_json()},
                              {"finish_reason", finish_reason_json(last_.finish, false)}}});
    r["usage"] = usage_json(last_);
    return r;
  }

 private:
  // The legacy logprobs object: parallel arrays, offsets into the generated text.
  ordered_json logprobs_json(const std::vector<TokenLogprob>& lps) {
    ordered_json out = empty_logprobs();
    for (const TokenLogprob& lp : lps) {
      const std::string text = token_text(tokenizer_, lp.id);
      out["tokens"].push_back(text);
      out["token_logprobs"].push_back(lp.logprob);
      ordered_json top = ordered_json::object();
      for (const auto& [id, logprob] : lp.top) top[token_text(tokenizer_, id)] = logprob;
      out["top_logprobs"].push_back(std::move(top));
      out["text_offset"].push_back(text_offset_);
      text_offset_ += int64_t(tokenizer_.token_bytes(lp.id).size());
    }
    return out;
  }

  static ordered_json empty_logprobs() {
    return {{"tokens", ordered_json::array()},
            {"token_logprobs", ordered_json::array()},
            {"top_logprobs", ordered_json::array()},
            {"text_offset", ordered_json::array()}};
  }

  ordered_json chunk(const std::string& text, ordered_json logprobs, ordered_json finish) const {
    ordered_json c = base_object(who_, "text_completion");
    c["choices"] = ordered_json::array({{{"text", text},
                                         {"index", 0},
                                         {"logprobs", std::move(logprobs)},
                                         {"finish_reason", std::move(finish)}}});
    return c;
  }

  ResponseIdentity who_;
  const Tokenizer& tokenizer_;
  bool logprobs_;
  std::string text_;
  ordered_json all_logprobs_ = empty_logprobs();
  int64_t text_offset_ = 0;
  JobOutput last_;
};

}  // namespace

std::string random_id(const std::string& prefix, size_t length) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = prefix;
  for (size_t i = 0; i < length; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

ordered_json usage_json(const JobOutput& out) {
  return {{"prompt_tokens", out.prompt_tokens},
          {"completion_tokens", out.completion_tokens},
          {"total_tokens", out.prompt_tokens + out.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", out.cached_tokens}}}};
}

std::string finish_reason_json(FinishReason reason, bool made_tool_calls) {
  switch (reason) {
    case FinishReason::kStop:
      return made_tool_calls ? "tool_calls" : "stop";
    case FinishReason::kLength:
    case FinishReason::kContextFull:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "stop";
}

std::unique_ptr<ResponseBuilder> make_chat_builder(ResponseIdentity identity,
                                                   const Tokenizer& tokenizer,
                                                   const ChatOptions& options) {
  return std::make_unique<ChatBuilder>(std::move(identity), tokenizer, options);
}

std::unique_ptr<ResponseBuilder> make_completion_builder(ResponseIdentity identity,
                                                         const Tokenizer& tokenizer,
                                                         bool logprobs) {
  return std::make_unique<CompletionBuilder>(std::move(identity), tokenizer, logprobs);
}

}  // namespace dsv3::server
