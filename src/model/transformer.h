// The whole model: embedding -> decoder layers -> final norm -> LM head, plus the MTP layer(s).
#pragma once

#include <memory>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layer_context.h"
#include "model/rope.h"
#include "model/weights.h"
#include "util/arena.h"

namespace dsv3 {

struct ModelOptions {
  int64_t max_positions = 4096;  // context length the RoPE table and caches are sized for
  bool load_mtp = true;          // bind the MTP layer(s) when the checkpoint has them
  bool mlock = false;            // pin the mapped weights in RAM
  // Storage of the latent KV cache: kF32, or kBF16 / kF16 to halve it (`--kv-type`).
  WeightFormat kv_format = WeightFormat::kF32;
  // Expert parallelism: the part of the checkpoint this process opens and binds.
  WeightSelection selection;
};

// One forward of the main model over tokens at positions [cache.length(), + T).
struct ForwardArgs {
  std::span<const int32_t> tokens;
  KvCache* cache = nullptr;       // appended to; length grows by T
  Arena* arena = nullptr;         // scratch
  float* hidden_out = nullptr;    // [T, hidden] after model.norm (optional)
  float* logits_out = nullptr;    // [T, vocab], or [1, vocab] with last_logits_only (optional)
  bool last_logits_only = false;
  AttentionImpl attention = AttentionImpl::kAbsorbed;
  const TraceFn* trace = nullptr;  // named activations: layer_out, route_ids, route_weights
  PhaseTimes* phases = nullptr;    // time per phase (bench --profile)
};

// One forward of MTP layer `depth` over slots [cache.length(), + T): slot i combines
// the embedding of tokens[i] (the token after the main model's position) with hidden[i].
struct MtpArgs {
  int64_t depth = 0;
  std::span<const int32_t> tokens;  // t_{i+1} for each slot
  const float* hidden = nullptr;    // [T, hidden]: h_i of the main model (after model.norm)
  KvCache* cache = nullptr;         // the MTP layer's own cache (1 layer)
  Arena* arena = nullptr;
  float* hidden_out = nullptr;  // [T, hidden] after shared_head.norm (to chain drafts)
  float* logits_out = nullptr;  // [T, vocab] predicting t_{i+2}, or [1, vocab] with last_logits_only
  bool last_logits_only = false;
  bool mask_first_embedding = false;  // vLLM convention: zero slot 0's embedding
  AttentionImpl attention = AttentionImpl::kAbsorbed;
  const TraceFn* trace = nullptr;
};

// One sequence's part of a batched forward: its new tokens, its cache and its outputs.
struct BatchItem {
  std::span<const int32_t> tokens;  // positions [cache.length(), + size)
  KvCache* cache = nullptr;         // appended to
  float* hidden_out = nullptr;      // [size, hidden] after model.norm (optional)
  float* logits_out = nullptr;      // [size, vocab], or [1, vocab] with last_logits_only
  bool last_logits_only = false;
};

// How a batch is computed: the attention form, and what to observe while computing it.
struct BatchOptions {
  AttentionImpl attention = AttentionImpl::kAbsorbed;
  const TraceFn* trace = nullptr;  // named activations: layer_out, route_ids, route_weights
  PhaseTimes* phases = nullptr;    // time per phase (bench --profile)
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::string& dir, const ModelOptions& options);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Checkpoint& checkpoint() const { return checkpoint_; }
  int64_t max_positions() const { return rope_.max_positions(); }
  int64_t mtp_depth() const { return int64_t(weights_.mtp.size()); }

  // Expert parallelism (rank 0): where the routed experts this process does not hold are
  // computed. The model owns it; destroying the model releases the other ranks.
  void set_remote_experts(std::unique_ptr<RemoteExperts> remote) { remote_ = std::move(remote); }
  RemoteExperts* remote_experts() const { return remote_.get(); }

  KvCache new_cache(int64_t capacity = 0) const;
  KvCache new_mtp_cache(int64_t capacity = 0) const;

  void forward(const ForwardArgs& args) const;
  // Several sequences in one pass (continuous batching): every weight is read once for all of
  // their tokens; attention stays within each sequence's own cache.
  void forward_batch(std::span<const BatchItem> items, Arena& arena,
                     const BatchOptions& options = {}) const;
  void mtp_forward(const MtpArgs& args) const;

 private:
  Model(ModelConfig config, Checkpoint ck, int64_t max_positions);

  ModelConfig config_;
  Checkpoint checkpoint_;
  ModelWeights weights_;
  RopeTable rope_;
  WeightFormat kv_format_ = WeightFormat::kF32;
  std::unique_ptr<RemoteExperts> remote_;
};

// Checks a prompt's token ids against the vocabulary; the error names the first bad one.
Status check_tokens(const ModelConfig& c, std::span<const int32_t> tokens);

}  // namespace dsv3
