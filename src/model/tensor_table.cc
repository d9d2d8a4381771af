#include "model/tensor_table.h"

#include "tensor/matrix.h"

namespace dsv3 {

namespace {

constexpr std::string_view kFp8ScalesSuffix = "_scale_inv";  // after ".weight"

// Where a role's tensor sits: once in the model, once per layer, once per routed expert.
enum class Scope { kModel, kLayer, kExpert };

// Prefixes of the per-layer and per-expert names.
constexpr std::string_view kHfLayers = "model.layers.", kHfExperts = "mlp.experts.",
                           kGgufLayers = "blk.";

struct RoleNames {
  TensorRole role;
  Scope scope;
  std::string_view hf;    // after "model.layers.L." (and "mlp.experts.E.") in its scope
  std::string_view gguf;  // after "blk.L." in its scope; "" if llama.cpp has none
};

// One row per role, in the order of TensorRole.
constexpr RoleNames kRoleNames[] = {
    {TensorRole::kEmbedding, Scope::kModel, "model.embed_tokens.weight", "token_embd.weight"},
    {TensorRole::kAttnNorm, Scope::kLayer, "input_layernorm.weight", "attn_norm.weight"},
    {TensorRole::kFfnNorm, Scope::kLayer, "post_attention_layernorm.weight", "ffn_norm.weight"},
    {TensorRole::kQ, Scope::kLayer, "self_attn.q_proj.weight", "attn_q.weight"},
    {TensorRole::kQA, Scope::kLayer, "self_attn.q_a_proj.weight", "attn_q_a.weight"},
    {TensorRole::kQNorm, Scope::kLayer, "self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
    {TensorRole::kQB, Scope::kLayer, "self_attn.q_b_proj.weight", "attn_q_b.weight"},
    {TensorRole::kKvA, Scope::kLayer, "self_attn.kv_a_proj_with_mqa.weight",
     "attn_kv_a_mqa.weight"},
    {TensorRole::kKvNorm, Scope::kLayer, "self_attn.kv_a_layernorm.weight",
     "attn_kv_a_norm.weight"},
    {TensorRole::kKvB, Scope::kLayer, "self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
    {TensorRole::kO, Scope::kLayer, "self_attn.o_proj.weight", "attn_output.weight"},
    {TensorRole::kIndexerQB, Scope::kLayer, "self_attn.indexer.wq_b.weight", ""},
    {TensorRole::kIndexerK, Scope::kLayer, "self_attn.indexer.wk.weight", ""},
    {TensorRole::kIndexerKNormWeight, Scope::kLayer, "self_attn.indexer.k_norm.weight", ""},
    {TensorRole::kIndexerKNormBias, Scope::kLayer, "self_attn.indexer.k_norm.bias", ""},
    {TensorRole::kIndexerWeightsProj, Scope::kLayer, "self_attn.indexer.weights_proj.weight", ""},
    {TensorRole::kDenseGateProj, Scope::kLayer, "mlp.gate_proj.weight", "ffn_gate.weight"},
    {TensorRole::kDenseUpProj, Scope::kLayer, "mlp.up_proj.weight", "ffn_up.weight"},
    {TensorRole::kDenseDownProj, Scope::kLayer, "mlp.down_proj.weight", "ffn_down.weight"},
    {TensorRole::kRouter, Scope::kLayer, "mlp.gate.weight", "ffn_gate_inp.weight"},
    {TensorRole::kRouterBias, Scope::kLayer, "mlp.gate.e_score_correction_bias",
     "exp_probs_b.bias"},
    {TensorRole::kExpertGateProj, Scope::kExpert, "gate_proj.weight", "ffn_gate_exps.weight"},
    {TensorRole::kExpertUpProj, Scope::kExpert, "up_proj.weight", "ffn_up_exps.weight"},
    {TensorRole::kExpertDownProj, Scope::kExpert, "down_proj.weight", "ffn_down_exps.weight"},
    {TensorRole::kSharedGateProj, Scope::kLayer, "mlp.shared_experts.gate_proj.weight",
     "ffn_gate_shexp.weight"},
    {TensorRole::kSharedUpProj, Scope::kLayer, "mlp.shared_experts.up_proj.weight",
     "ffn_up_shexp.weight"},
    {TensorRole::kSharedDownProj, Scope::kLayer, "mlp.shared_experts.down_proj.weight",
     "ffn_down_shexp.weight"},
    {TensorRole::kNorm, Scope::kModel, "model.norm.weight", "output_norm.weight"},
    {TensorRole::kHead, Scope::kModel, "lm_head.weight", "output.weight"},
    {TensorRole::kMtpEmbedding, Scope::kLayer, "embed_tokens.weight", "nextn.embed_tokens.weight"},
    {TensorRole::kMtpENorm, Scope::kLayer, "enorm.weight", "nextn.enorm.weight"},
    {TensorRole::kMtpHNorm, Scope::kLayer, "hnorm.weight", "nextn.hnorm.weight"},
    {TensorRole::kMtpEhProj, Scope::kLayer, "eh_proj.weight", "nextn.eh_proj.weight"},
    {TensorRole::kMtpHeadNorm, Scope::kLayer, "shared_head.norm.weight",
     "nextn.shared_head_norm.weight"},
    {TensorRole::kMtpHead, Scope::kLayer, "shared_head.head.weight",
     "nextn.shared_head_head.weight"},
};

constexpr bool rows_follow_the_enum() {
  for (size_t i = 0; i < std::size(kRoleNames); ++i) {
    if (size_t(kRoleNames[i].role) != i) return false;
  }
  return std::size(kRoleNames) == size_t(TensorRole::kMtpHead) + 1;
}
static_assert(rows_follow_the_enum(), "kRoleNames: one row per TensorRole, in its order");

const RoleNames& names_of(TensorRole role) { return kRoleNames[size_t(role)]; }

// llama.cpp's split kv_b (after "blk.L.").
constexpr std::string_view kGgufKB = "attn_k_b.weight", kGgufVB = "attn_v_b.weight";

// Reads "<prefix>N." off the front of `name`: N, with `name` left after the dot.
std::optional<int64_t> take_index(std::string_view& name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  size_t at = prefix.size();
  int64_t n = 0;
  while (at < name.size() && at - prefix.size() < 9 && name[at] >= '0' && name[at] <= '9') {
    n = n * 10 + (name[at++] - '0');
  }
  if (at == prefix.size() || at >= name.size() || name[at] != '.') return std::nullopt;
  name.remove_prefix(at + 1);
  return n;
}

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
    add(TensorRole::kEmbedding, {c_.vocab_size, d});
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) block(l, c_.is_moe_layer(l));
    layer_ = -1;
    add(TensorRole::kNorm, {d});
    if (!c_.tie_word_embeddings) add(TensorRole::kHead, {c_.vocab_size, d});
    for (int64_t k = 0; k < c_.num_nextn_predict_layers; ++k) mtp(c_.num_hidden_layers + k);
    return std::move(out_);
  }

 private:
  // The role's tensor in the current layer and expert.
  void add(TensorRole role, std::vector<int64_t> shape) {
    TensorEntry e{.name = tensor_name(role, layer_, expert_),
                  .shape = std::move(shape),
                  .role = role,
                  .layer = layer_,
                  .expert = expert_,
                  .mtp = mtp_};
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

  void mlp(TensorRole gate, TensorRole up, TensorRole down, int64_t inter) {
    const int64_t d = c_.hidden_size;
    add(gate, {inter, d});
    add(up, {inter, d});
    add(down, {d, inter});
  }

  void attention() {
    const int64_t d = c_.hidden_size, h = c_.num_attention_heads;
    if (c_.q_lora_rank > 0) {
      add(TensorRole::kQA, {c_.q_lora_rank, d});
      add(TensorRole::kQNorm, {c_.q_lora_rank});
      add(TensorRole::kQB, {h * c_.qk_head_dim(), c_.q_lora_rank});
    } else {
      add(TensorRole::kQ, {h * c_.qk_head_dim(), d});
    }
    add(TensorRole::kKvA, {c_.kv_cache_width(), d});
    add(TensorRole::kKvNorm, {c_.kv_lora_rank});
    add(TensorRole::kKvB, {h * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank});
    add(TensorRole::kO, {d, h * c_.v_head_dim});
    if (!c_.has_indexer()) return;
    // DeepSeek-V3.2's lightning indexer.
    const int64_t dim = c_.index_head_dim;
    add(TensorRole::kIndexerQB, {c_.index_n_heads * dim, c_.q_lora_rank});
    add(TensorRole::kIndexerK, {dim, d});
    add(TensorRole::kIndexerKNormWeight, {dim});
    add(TensorRole::kIndexerKNormBias, {dim});
    add(TensorRole::kIndexerWeightsProj, {c_.index_n_heads, d});
  }

  void block(int64_t layer, bool moe) {
    layer_ = layer;
    const int64_t d = c_.hidden_size;
    add(TensorRole::kAttnNorm, {d});
    add(TensorRole::kFfnNorm, {d});
    attention();
    if (!moe) {
      mlp(TensorRole::kDenseGateProj, TensorRole::kDenseUpProj, TensorRole::kDenseDownProj,
          c_.intermediate_size);
      return;
    }
    add(TensorRole::kRouter, {c_.n_routed_experts, d});
    if (c_.topk_method == TopkMethod::kNoauxTc) add(TensorRole::kRouterBias, {c_.n_routed_experts});
    for (int64_t e = 0; e < c_.n_routed_experts; ++e) {
      expert_ = e;
      mlp(TensorRole::kExpertGateProj, TensorRole::kExpertUpProj, TensorRole::kExpertDownProj,
          c_.moe_intermediate_size);
    }
    expert_ = -1;
    if (c_.n_shared_experts > 0) {
      mlp(TensorRole::kSharedGateProj, TensorRole::kSharedUpProj, TensorRole::kSharedDownProj,
          c_.n_shared_experts * c_.moe_intermediate_size);
    }
  }

  // DeepSeek-V3's MTP module (spec section 4): a MoE decoder layer after the main ones.
  void mtp(int64_t layer) {
    mtp_ = true;
    layer_ = layer;
    const int64_t d = c_.hidden_size;
    add(TensorRole::kMtpEmbedding, {c_.vocab_size, d});
    add(TensorRole::kMtpENorm, {d});
    add(TensorRole::kMtpHNorm, {d});
    add(TensorRole::kMtpEhProj, {d, 2 * d});
    block(layer, /*moe=*/true);
    add(TensorRole::kMtpHeadNorm, {d});
    add(TensorRole::kMtpHead, {c_.vocab_size, d});
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
  std::string_view rest = name;
  const auto layer = take_index(rest, kHfLayers);
  if (!layer) return std::nullopt;
  const auto expert = take_index(rest, kHfExperts);
  if (!expert) return std::nullopt;
  return std::pair(*layer, *expert);
}

std::string tensor_name(TensorRole role, int64_t layer, int64_t expert) {
  const RoleNames& n = names_of(role);
  std::string name;
  if (n.scope != Scope::kModel) name = std::string(kHfLayers) + std::to_string(layer) + ".";
  if (n.scope == Scope::kExpert) name += std::string(kHfExperts) + std::to_string(expert) + ".";
  return name + std::string(n.hf);
}

std::optional<std::string> gguf_tensor_name(TensorRole role, int64_t layer) {
  const RoleNames& n = names_of(role);
  if (n.gguf.empty()) return std::nullopt;
  if (n.scope == Scope::kModel) return std::string(n.gguf);
  return std::string(kGgufLayers) + std::to_string(layer) + "." + std::string(n.gguf);
}

std::string gguf_kv_b_half_name(int64_t layer, KvBHalf half) {
  return std::string(kGgufLayers) + std::to_string(layer) + "." +
         std::string(half == KvBHalf::kK ? kGgufKB : kGgufVB);
}

std::optional<TensorNameParts> parse_tensor_name(std::string_view name) {
  for (const RoleNames& n : kRoleNames) {
    if (n.scope == Scope::kModel && name == n.hf) return TensorNameParts{.role = n.role};
  }
  const auto layer = take_index(name, kHfLayers);
  if (!layer) return std::nullopt;
  const auto expert = take_index(name, kHfExperts);
  const Scope scope = expert ? Scope::kExpert : Scope::kLayer;
  for (const RoleNames& n : kRoleNames) {
    if (n.scope == scope && name == n.hf) {
      return TensorNameParts{.role = n.role, .layer = *layer, .expert = expert.value_or(-1)};
    }
  }
  return std::nullopt;
}

std::optional<TensorNameParts> parse_gguf_tensor_name(std::string_view name) {
  for (const RoleNames& n : kRoleNames) {
    if (n.scope == Scope::kModel && name == n.gguf) return TensorNameParts{.role = n.role};
  }
  const auto layer = take_index(name, kGgufLayers);
  if (!layer) return std::nullopt;
  if (name == kGgufKB || name == kGgufVB) {
    return TensorNameParts{.role = TensorRole::kKvB,
                           .layer = *layer,
                           .kv_b_half = name == kGgufKB ? KvBHalf::kK : KvBHalf::kV};
  }
  for (const RoleNames& n : kRoleNames) {
    if (n.scope != Scope::kModel && !n.gguf.empty() && name == n.gguf) {
      return TensorNameParts{.role = n.role, .layer = *layer};
    }
  }
  return std::nullopt;
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
