#include "engine/session.h"

#include <algorithm>

namespace dsv3 {

Session::Session(const Model& model, int64_t context)
    : model_(&model), cache_(model.new_cache(context)),
      last_logits_(model.config().vocab_size), last_hidden_(model.config().hidden_size) {}

Status Session::append(std::span<const int32_t> tokens, int64_t chunk) {
  const ModelConfig& c = model_->config();
  DSV3_TRY(check_tokens(c, tokens));
  if (length() + int64_t(tokens.size()) > capacity()) {
    return Err("context full: ", length(), " + ", tokens.size(), " tokens exceed the context of ",
               capacity(), " (raise --ctx)");
  }
  chunk = std::max<int64_t>(chunk, 1);
  for (size_t pos = 0; pos < tokens.size(); pos += size_t(chunk)) {
    const auto part = tokens.subspan(pos, std::min<size_t>(size_t(chunk), tokens.size() - pos));
    chunk_hidden_.resize(part.size() * c.hidden_size);
    const bool last = pos + part.size() == tokens.size();
    model_->forward({.tokens = part, .cache = &cache_, .arena = &arena_,
                     .hidden_out = chunk_hidden_.data(),
                     .logits_out = last ? last_logits_.data() : nullptr,
                     .last_logits_only = true});
    std::copy_n(chunk_hidden_.end() - c.hidden_size, c.hidden_size, last_hidden_.begin());
  }
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return OkStatus();
}

void Session::truncate(int64_t n) {
  n = std::min<int64_t>(n, length());
  cache_.truncate(n);
  tokens_.resize(n);
}

int32_t argmax(std::span<const float> v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

Result<std::vector<int32_t>> generate_greedy(Session& session, std::span<const int32_t> prompt,
                                             int64_t n) {
  DSV3_TRY(session.append(prompt));
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t next = argmax(session.logits());
    out.push_back(next);
    if (i + 1 < n) DSV3_TRY(session.append(std::span(&next, 1)));
  }
  return out;
}

}  // namespace dsv3
