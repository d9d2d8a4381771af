#include "engine/session.h"

#include <algorithm>

#include "model/logits_guard.h"

namespace dsv3 {

Session::Session(const Model& model, int64_t context)
    : Session(model, SessionOptions{.context = context}) {}

Session::Session(const Model& model, const SessionOptions& options)
    : model_(&model), mtp_(options.mtp && model.mtp_depth() > 0),
      cache_(model.new_cache(options.context)),
      last_logits_(model.config().vocab_size), last_hidden_(model.config().hidden_size) {
  if (mtp_) {
    mtp_cache_ = model.new_mtp_cache(cache_.capacity());
    hidden_history_.resize(size_t(cache_.capacity()) * model.config().hidden_size);
  }
}

void Session::keep_hidden(int64_t start, const float* rows, int64_t n) {
  const int64_t d = model_->config().hidden_size;
  std::copy_n(rows + (n - 1) * d, d, last_hidden_.begin());
  if (mtp_) std::copy_n(rows, n * d, hidden_history_.begin() + start * d);
}

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
    const int64_t start = length();
    model_->forward({.tokens = part, .cache = &cache_, .arena = &arena_,
                     .hidden_out = chunk_hidden_.data(),
                     .logits_out = last ? last_logits_.data() : nullptr,
                     .last_logits_only = true});
    keep_hidden(start, chunk_hidden_.data(), int64_t(part.size()));
  }
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  if (!mtp_deferred_) fill_mtp_cache(chunk);
  return check_logits_finite(last_logits_, c.vocab_size, "the forward pass");
}

void Session::catch_up_mtp(int64_t chunk) {
  if (mtp_ && length() - 1 - mtp_cache_.length() > chunk) fill_mtp_cache(chunk, chunk);
}

void Session::fill_mtp_cache(int64_t chunk, int64_t leave) {
  if (!mtp_) return;
  const int64_t end = length() - 1 - leave;  // the last slot waits for the next token
  for (int64_t first = mtp_cache_.length(); first < end; first += chunk) {
    const int64_t n = std::min(chunk, end - first);
    model_->mtp_forward({.tokens = std::span(tokens_).subspan(size_t(first + 1), size_t(n)),
                         .hidden = hidden_at(first), .cache = &mtp_cache_, .arena = &arena_});
  }
}

Status Session::append_all(std::span<const int32_t> tokens) {
  const ModelConfig& c = model_->config();
  DSV3_TRY(check_tokens(c, tokens));
  const int64_t T = int64_t(tokens.size());
  if (T == 0) return OkStatus();
  if (length() + T > capacity()) return Err("context full (", capacity(), " tokens)");
  all_logits_.resize(T * c.vocab_size);
  chunk_hidden_.resize(T * c.hidden_size);
  const int64_t start = length();
  model_->forward({.tokens = tokens, .cache = &cache_, .arena = &arena_,
                   .hidden_out = chunk_hidden_.data(), .logits_out = all_logits_.data()});
  keep_hidden(start, chunk_hidden_.data(), T);
  std::copy_n(all_logits_.end() - c.vocab_size, c.vocab_size, last_logits_.begin());
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return check_logits_finite(all_logits_, c.vocab_size, "the forward pass");
}

BatchItem Session::batch_item(std::span<const int32_t> tokens, bool every_logit,
                              bool last_logit) {
  const ModelConfig& c = model_->config();
  chunk_hidden_.resize(tokens.size() * c.hidden_size);
  if (every_logit) all_logits_.resize(tokens.size() * c.vocab_size);
  float* logits = every_logit ? all_logits_.data() : last_logit ? last_logits_.data() : nullptr;
  return {.tokens = tokens, .cache = &cache_, .hidden_out = chunk_hidden_.data(),
          .logits_out = logits, .last_logits_only = !every_logit};
}

void Session::batch_done(std::span<const int32_t> tokens, bool every_logit) {
  const ModelConfig& c = model_->config();
  const int64_t T = int64_t(tokens.size());
  keep_hidden(length() - T, chunk_hidden_.data(), T);  // the cache already grew by T
  if (every_logit) std::copy_n(all_logits_.end() - c.vocab_size, c.vocab_size, last_logits_.begin());
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  // As append() does; not after a verification (every_logit), whose drafts may be rejected:
  // the decoder drafts from what it keeps.
  if (!every_logit && !mtp_deferred_) fill_mtp_cache();
}

void Session::truncate(int64_t n) {
  n = std::min<int64_t>(n, length());
  cache_.truncate(n);
  tokens_.resize(n);
  // MTP slot i reads token i+1, so only slots before n - 1 stay valid.
  if (mtp_) mtp_cache_.truncate(std::max<int64_t>(n - 1, 0));
}

const float* Session::hidden_at(int64_t position) const {
  DSV3_CHECK(mtp_ && position >= 0 && position < length(), "hidden at %ld", long(position));
  return hidden_history_.data() + position * model_->config().hidden_size;
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
