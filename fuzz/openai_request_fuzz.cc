// Fuzzes the OpenAI request parsing of the server: the body as JSON, then as a chat request
// and as a completion request. A request that is accepted must be within the documented
// limits the scheduler relies on; a refusal must carry an HTTP status of 4xx and a message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_support.h"
#include "server/openai_request.h"

namespace {

using dsv3::server::ApiError;

void check_refusal(const ApiError& e) {
  if (e.status < 400 || e.status > 499 || e.message.empty()) {
    std::fprintf(stderr, "openai_request_fuzz: refusal with status %d, message '%s'\n", e.status,
                 e.message.c_str());
    std::abort();
  }
  (void)dsv3::server::dump_json(e.to_json());
}

void check_params(const dsv3::server::GenerationParams& p) {
  if (p.n < 1 || p.n > dsv3::server::kMaxChoices || p.max_tokens < 0 || p.top_logprobs < -1) {
    std::fprintf(stderr, "openai_request_fuzz: accepted n=%lld max_tokens=%lld top_logprobs=%d\n",
                 static_cast<long long>(p.n), static_cast<long long>(p.max_tokens), p.top_logprobs);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256u << 10)) return -1;  // the server's body limit is larger; this is plenty
  auto body = dsv3::server::parse_json_body(dsv3::fuzz::as_text(data, size));
  if (!body.ok()) {
    dsv3::fuzz::note("body refused: " + body.error().message);
    check_refusal(body.error());
    return 0;
  }
  auto chat = dsv3::server::parse_chat_request(*body);
  dsv3::fuzz::note(chat.ok() ? "chat accepted" : "chat refused: " + chat.error().message);
  if (chat.ok()) {
    check_params(chat->params);
    (void)dsv3::server::dump_json(chat->messages);
    (void)dsv3::server::dump_json(chat->tools);
  } else {
    check_refusal(chat.error());
  }
  auto completion = dsv3::server::parse_completion_request(*body);
  dsv3::fuzz::note(completion.ok() ? "completion accepted"
                                   : "completion refused: " + completion.error().message);
  if (completion.ok()) {
    check_params(completion->params);
  } else {
    check_refusal(completion.error());
  }
  return 0;
}
