// A conversation with the model: its KV caches (main and MTP), the last position's logits and
// the final hidden states that the MTP layer reads. Front ends (generate, chat, serve, bench)
// drive the model through it.
#pragma once

#include <span>
#include <vector>

#include "model/transformer.h"

namespace dsv3 {

struct SessionOptions {
  int64_t context = 0;  // positions at most (0: the model's max_positions)
  bool mtp = false;     // keep what MTP drafting needs (needs a model loaded with its MTP layer)
};

class Session {
 public:
  explicit Session(const Model& model, int64_t context = 0);
  Session(const Model& model, const SessionOptions& options);

  const Model& model() const { return *model_; }
  int64_t length() const { return cache_.length(); }
  int64_t capacity() const { return cache_.capacity(); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  bool mtp_enabled() const { return mtp_; }

  // Feeds tokens (a prompt, a chunk of one, or one generated token); afterwards logits() are
  // the distribution for the token after the last one. Errors: bad ids, context full.
  // Prompts longer than `chunk` are prefilled in chunks of that many tokens. With MTP, the
  // MTP layer's cache is filled too, but for the last slot, which waits for the next token:
  // a prompt's MTP work is prompt work, and drafting then adds one slot.
  Status append(std::span<const int32_t> tokens, int64_t chunk = 512);
  // One forward over `tokens` that keeps the logits of every one of them: all_logits() then
  // holds [tokens.size(), vocab] (speculative verification reads them all).
  Status append_all(std::span<const int32_t> tokens);

  // For callers that run several sessions in one Model::forward_batch (the server): the item
  // that appends `tokens` to this session, keeping the logits of every token (`every_logit`,
  // for verification), of the last one (`last_logit`), or none (a prompt chunk that is not the
  // last); then, once the batch has run, batch_done() with the same tokens and every_logit
  // (which, but after a verification, fills the MTP cache as append() does).
  // Tokens must be checked (ids, room) by the caller.
  BatchItem batch_item(std::span<const int32_t> tokens, bool every_logit, bool last_logit);
  void batch_done(std::span<const int32_t> tokens, bool every_logit);

  std::span<const float> logits() const { return last_logits_; }
  std::span<const float> all_logits() const { return all_logits_; }
  std::span<const float> last_hidden() const { return last_hidden_; }
  // Forgets everything after the first n tokens (rolls the caches back). After a truncate,
  // logits() is stale until the next append.
  void truncate(int64_t n);
  void reset() { truncate(0); }

  // --- for MTP drafting (mtp_enabled() only) ---
  // The main model's final hidden state at `position` (after model.norm).
  const float* hidden_at(int64_t position) const;
  KvCache& mtp_cache() { return mtp_cache_; }
  Arena& arena() { return arena_; }
  // While `deferred`, append() and batch_done() leave the MTP cache behind (plain steps of
  // `--mtp auto` then cost what plain decoding costs); drafting feeds the slots it lacks.
  void defer_mtp(bool deferred) { mtp_deferred_ = deferred; }
  // Fills the MTP cache until at most `chunk` slots are left for the drafting forward, so a
  // long stretch of deferred slots is fed in prompt-sized chunks.
  void catch_up_mtp(int64_t chunk = 512);

 private:
  void keep_hidden(int64_t start, const float* rows, int64_t n);
  // Runs the MTP layer over every slot whose inputs are known but the last `leave`, at most
  // `chunk` per forward.
  void fill_mtp_cache(int64_t chunk = 512, int64_t leave = 0);

  const Model* model_;
  bool mtp_ = false;
  bool mtp_deferred_ = false;
  KvCache cache_, mtp_cache_;
  Arena arena_;
  std::vector<int32_t> tokens_;
  std::vector<float> last_logits_, all_logits_, last_hidden_, chunk_hidden_;
  std::vector<float> hidden_history_;  // [capacity, hidden] when mtp_ (MTP slot i reads h_i)
};

// Greedy continuation: n new tokens, each the argmax of the previous step's logits.
Result<std::vector<int32_t>> generate_greedy(Session& session, std::span<const int32_t> prompt,
                                             int64_t n);

int32_t argmax(std::span<const float> v);

}  // namespace dsv3
