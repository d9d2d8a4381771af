#include "model/tensor_table.h"

#include "tensor/matrix.h"

namespace dsv3 {

namespace {

constexpr std::string_view kFp8ScalesSuffix = "_scale_inv";  // after ".weight"

// Absorbed MLA slices kv_b per head at rows h * (nope + v) and h * (nope + v) + nope; q8 / q4
// slices must start on a tile.
bool kv_b_slices_on_tiles(const ModelConfig& c) {
  return c.qk_nope_head_dim % kQuantTileRows == 0 &&
         (c.qk_nope_head_dim + c.v_head_dim) % kQuantTileRows == 0;
}

class TableBuilder {
 public:
  explicit TableBuilder(const ModelConfig& c) : c_(c) {}

  std::vector<TensorEntry> build() {
    const int64_t d = c_.hidden_size;
    matrix(TensorRole::kEmbedding, "model.embed_tokens", {c_.vocab_size, d});
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) block(l, c_.is_moe_layer(l));
    vector(TensorRole::kNorm, "model.norm.weight", d);
    if (!c_.tie_word_embeddings) matrix(TensorRole::kHead, "lm_head", {c_.vocab_size, d});
    for (int64_t k = 0; k < c_.num_nextn_predict_layers; ++k) mtp(c_.num_hidden_layers + k);
    return std::move(out_);
  }

 private:
  // A matrix "<name>.weight".
  void matrix(TensorRole role, const std::string& name, std::vector<int64_t> shape) {
    add(role, name + ".weight", std::move(shape));
  }
  void vector(TensorRole role, const std::string& name, int64_t n) { add(role, name, {n}); }

  void add(TensorRole role, std::string name, std::vector<int64_t> shape) {
    TensorEntry e{.name = std::move(name), .shape = std::move(shape), .role = role,
                  .layer = layer_, .expert = expert_, .mtp = mtp_};
    e.fp8_in_release = fp8_in_release(role);
    e.quantizable = quantizable(role);
    out_.push_back(std::move(e));
  }

  static bool fp8_in_release(TensorRole role) {
    switch (role) {
      case TensorRole::kQ:
      case TensorRole::kQA:
      case TensorRole::kQB:
      case TensorRole::kKvA:
      case TensorRole::kKvB:
      case TensorRole::kO:
      case TensorRole::kIndexerQB:
      case TensorRole::kIndexerK:
      case TensorRole::kDenseGateProj:
      case TensorRole::kDenseUpProj:
      case TensorRole::kDenseDownProj:
      case TensorRole::kExpertGateProj:
      case TensorRole::kExpertUpProj:
      case TensorRole::kExpertDownProj:
      case TensorRole::kSharedGateProj:
      case TensorRole::kSharedUpProj:
      case TensorRole::kSharedDownProj: return true;
      case TensorRole::kEmbedding:
      case TensorRole::kAttnNorm:
      case TensorRole::kFfnNorm:
      case TensorRole::kQNorm:
      case TensorRole::kKvNorm:
      case TensorRole::kIndexerKNormWeight:
      case TensorRole::kIndexerKNormBias:
      case TensorRole::kIndexerWeightsProj:
      case TensorRole::kRouter:
      case TensorRole::kRouterBias:
      case TensorRole::kNorm:
      case TensorRole::kHead:
      case TensorRole::kMtpEmbedding:
      case TensorRole::kMtpENorm:
      case TensorRole::kMtpHNorm:
      case TensorRole::kMtpEhProj:
      case TensorRole::kMtpHeadNorm:
      case TensorRole::kMtpHead: return false;
    }
    return false;
  }

  // Of the matrices: the router and V3.2's indexer pick experts and tokens, discrete choices
  // small rounding errors would flip, so they stay as the reference uses them.
  bool quantizable(TensorRole role) const {
    switch (role) {
      case TensorRole::kRouter:
      case TensorRole::kIndexerQB:
      case TensorRole::kIndexerK:
      case TensorRole::kIndexerWeightsProj: return false;
      case TensorRole::kKvB: return kv_b_slices_on_tiles(c_);
      case TensorRole::kEmbedding:
      case TensorRole::kQ:
      case TensorRole::kQA:
      case TensorRole::kQB:
      case TensorRole::kKvA:
      case TensorRole::kO:
      case TensorRole::kDenseGateProj:
      case TensorRole::kDenseUpProj:
      case TensorRole::kDenseDownProj:
      case TensorRole::kExpertGateProj:
      case TensorRole::kExpertUpProj:
      case TensorRole::kExpertDownProj:
      case TensorRole::kSharedGateProj:
      case TensorRole::kSharedUpProj:
      case TensorRole::kSharedDownProj:
      case TensorRole::kHead:
      case TensorRole::kMtpEmbedding:
      case TensorRole::kMtpEhProj:
      case TensorRole::kMtpHead: return true;
      // Vectors.
      case TensorRole::kAttnNorm:
      case TensorRole::kFfnNorm:
      case TensorRole::kQNorm:
      case TensorRole::kKvNorm:
      case TensorRole::kIndexerKNormWeight:
      case TensorRole::kIndexerKNormBias:
      case TensorRole::kRouterBias:
      case TensorRole::kNorm:
      case TensorRole::kMtpENorm:
      case TensorRole::kMtpHNorm:
      case TensorRole::kMtpHeadNorm: return false;
    }
    return false;
  }

  void mlp(TensorRole gate, TensorRole up, TensorRole down, const std::string& p, int64_t inter) {
    const int64_t d = c_.hidden_size;
    matrix(gate, p + "gate_proj", {inter, d});
    matrix(up, p + "up_proj", {inter, d});
    matrix(down, p + "down_proj", {d, inter});
  }

  void attention(const std::string& p) {
    const int64_t d = c_.hidden_size, h = c_.num_attention_heads;
    if (c_.q_lora_rank > 0) {
      matrix(TensorRole::kQA, p + "q_a_proj", {c_.q_lora_rank, d});
      vector(TensorRole::kQNorm, p + "q_a_layernorm.weight", c_.q_lora_rank);
      matrix(TensorRole::kQB, p + "q_b_proj", {h * c_.qk_head_dim(), c_.q_lora_rank});
    } else {
      matrix(TensorRole::kQ, p + "q_proj", {h * c_.qk_head_dim(), d});
    }
    matrix(TensorRole::kKvA, p + "kv_a_proj_with_mqa", {c_.kv_cache_width(), d});
    vector(TensorRole::kKvNorm, p + "kv_a_layernorm.weight", c_.kv_lora_rank);
    matrix(TensorRole::kKvB, p + "kv_b_proj",
           {h * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank});
    matrix(TensorRole::kO, p + "o_proj", {d, h * c_.v_head_dim});
    if (!c_.has_indexer()) return;
    // DeepSeek-V3.2's lightning indexer.
    const std::string i = p + "indexer.";
    const int64_t dim = c_.index_head_dim;
    matrix(TensorRole::kIndexerQB, i + "wq_b", {c_.index_n_heads * dim, c_.q_lora_rank});
    matrix(TensorRole::kIndexerK, i + "wk", {dim, d});
    vector(TensorRole::kIndexerKNormWeight, i + "k_norm.weight", dim);
    vector(TensorRole::kIndexerKNormBias, i + "k_norm.bias", dim);
    matrix(TensorRole::kIndexerWeightsProj, i + "weights_proj", {c_.index_n_heads, d});
  }

  void block(int64_t layer, bool moe) {
    layer_ = layer;
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    const int64_t d = c_.hidden_size;
    vector(TensorRole::kAttnNorm, p + "input_layernorm.weight", d);
    vector(TensorRole::kFfnNorm, p + "post_attention_layernorm.weight", d);
    attention(p + "self_attn.");
    if (!moe) {
      mlp(TensorRole::kDenseGateProj, TensorRole::kDenseUpProj, TensorRole::kDenseDownProj,
          p + "mlp.", c_.intermediate_size);
      return;
    }
    matrix(TensorRole::kRouter, p + "mlp.gate", {c_.n_routed_experts, d});
    if (c_.topk_method == TopkMethod::kNoauxTc) {
      vector(TensorRole::kRouterBias, p + "mlp.gate.e_score_correction_bias", c_.n_routed_experts);
    }
    for (int64_t e = 0; e < c_.n_routed_experts; ++e) {
      expert_ = e;
      mlp(TensorRole::kExpertGateProj, TensorRole::kExpertUpProj, TensorRole::kExpertDownProj,
          p + "mlp.experts." + std::to_string(e) + ".", c_.moe_intermediate_size);
    }
    expert_ = -1;
    if (c_.n_shared_experts > 0) {
      mlp(TensorRole::kSharedGateProj, TensorRole::kSharedUpProj, TensorRole::kSharedDownProj,
          p + "mlp.shared_experts.", c_.n_shared_experts * c_.moe_intermediate_size);
    }
  }

  // DeepSeek-V3's MTP module (spec section 4): a MoE decoder layer after the main ones.
  void mtp(int64_t layer) {
    mtp_ = true;
    layer_ = layer;
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    const int64_t d = c_.hidden_size;
    matrix(TensorRole::kMtpEmbedding, p + "embed_tokens", {c_.vocab_size, d});
    vector(TensorRole::kMtpENorm, p + "enorm.weight", d);
    vector(TensorRole::kMtpHNorm, p + "hnorm.weight", d);
    matrix(TensorRole::kMtpEhProj, p + "eh_proj", {d, 2 * d});
    block(layer, /*moe=*/true);
    vector(TensorRole::kMtpHeadNorm, p + "shared_head.norm.weight", d);
    matrix(TensorRole::kMtpHead, p + "shared_head.head", {c_.vocab_size, d});
  }

  const ModelConfig& c_;
  int64_t layer_ = -1;
  int64_t expert_ = -1;
  bool mtp_ = false;
  std::vector<TensorEntry> out_;
};

}  // namespace

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool is_routed_expert(TensorRole role) {
  return role == TensorRole::kExpertGateProj || role == TensorRole::kExpertUpProj ||
         role == TensorRole::kExpertDownProj;
}

std::vector<TensorEntry> tensor_table(const ModelConfig& c) { return TableBuilder(c).build(); }

std::string fp8_scales_name(const std::string& weight_name) {
  return weight_name + std::string(kFp8ScalesSuffix);
}

std::optional<std::string> fp8_scaled_weight_of(std::string_view name) {
  static const std::string kSuffix = ".weight" + std::string(kFp8ScalesSuffix);
  if (!name.ends_with(kSuffix)) return std::nullopt;
  return std::string(name.substr(0, name.size() - kFp8ScalesSuffix.size()));
}

std::optional<std::pair<int64_t, int64_t>> routed_expert_of(const std::string& name) {
  static const std::string kLayers = "model.layers.", kExperts = ".mlp.experts.";
  if (name.compare(0, kLayers.size(), kLayers) != 0) return std::nullopt;
  size_t at = kLayers.size();
  auto number = [&](int64_t& out) {
    const size_t start = at;
    out = 0;
    while (at < name.size() && name[at] >= '0' && name[at] <= '9') out = out * 10 + (name[at++] - '0');
    return at > start;
  };
  int64_t layer = 0, expert = 0;
  if (!number(layer) || name.compare(at, kExperts.size(), kExperts) != 0) return std::nullopt;
  at += kExperts.size();
  if (!number(expert) || at >= name.size() || name[at] != '.') return std::nullopt;
  return std::pair(layer, expert);
}

ParameterCounts count_parameters(const ModelConfig& c) {
  ParameterCounts p;
  int64_t routed = 0;  // routed experts of the main model, all of them
  for (const TensorEntry& e : tensor_table(c)) {
    const int64_t n = e.numel();
    p.total += n;
    if (e.mtp) {
      p.mtp += n;
      continue;
    }
    if (e.role == TensorRole::kEmbedding) {
      p.embedding = n;  // one row per token is read: negligible
    } else if (is_routed_expert(e.role)) {
      routed += n;
    } else {
      p.active_per_token += n;
    }
  }
  // Each token reaches num_experts_per_tok of the n_routed_experts equal-sized experts of
  // every MoE layer; a tied head is the embedding, read whole.
  if (c.n_routed_experts > 0) p.active_per_token += routed * c.num_experts_per_tok / c.n_routed_experts;
  if (c.tie_word_embeddings) p.active_per_token += p.embedding;
  return p;
}

}  // namespace dsv3
