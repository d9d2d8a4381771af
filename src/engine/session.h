// A conversation with the model: its KV caches (main and MTP), the last position's logits and
// hidden state. Front ends (generate, chat, serve, bench) drive the model through it.
#pragma once

#include <span>
#include <vector>

#include "model/transformer.h"

namespace dsv3 {

class Session {
 public:
  // `context` positions at most (0: the model's max_positions).
  explicit Session(const Model& model, int64_t context = 0);

  const Model& model() const { return *model_; }
  int64_t length() const { return cache_.length(); }
  int64_t capacity() const { return cache_.capacity(); }
  const std::vector<int32_t>& tokens() const { return tokens_; }

  // Feeds tokens (a prompt, a chunk of one, or one generated token); afterwards logits() are
  // the distribution for the token after the last one. Errors: bad ids, context full.
  // Prompts longer than `chunk` are prefilled in chunks of that many tokens.
  Status append(std::span<const int32_t> tokens, int64_t chunk = 512);

  std::span<const float> logits() const { return last_logits_; }
  std::span<const float> last_hidden() const { return last_hidden_; }
  // Forgets everything after the first n tokens (rolls the cache back).
  void truncate(int64_t n);
  void reset() { truncate(0); }

 private:
  const Model* model_;
  KvCache cache_;
  Arena arena_;
  std::vector<int32_t> tokens_;
  std::vector<float> last_logits_, last_hidden_, chunk_hidden_;
};

// Greedy continuation: n new tokens, each the argmax of the previous step's logits.
Result<std::vector<int32_t>> generate_greedy(Session& session, std::span<const int32_t> prompt,
                                             int64_t n);

int32_t argmax(std::span<const float> v);

}  // namespace dsv3
