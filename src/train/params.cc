#include "train/params.h"

#include <cmath>

#include "train/rng.h"

namespace dsv3::train {

namespace {

// Calls f(name, shape, slot, kind) for every parameter, in checkpoint order. Keeping gate_proj
// and up_proj adjacent lets the two products read one contiguous [2*inter, hidden] block.
template <typename T, typename F>
void visit_mlp(const std::string& p, int64_t hidden, int64_t inter, MlpParams<T>& m, F& f) {
  m.inter = inter;
  f(p + "gate_proj.weight", {inter, hidden}, m.w1, ParamKind::kMatrix);
  f(p + "up_proj.weight", {inter, hidden}, m.w3, ParamKind::kMatrix);
  f(p + "down_proj.weight", {hidden, inter}, m.w2, ParamKind::kMatrix);
}

template <typename T, typename F>
void visit_block(const ModelConfig& c, int64_t layer, bool moe, BlockParams<T>& b, F& f) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  const int64_t d = c.hidden_size, h = c.num_attention_heads;
  f(p + "input_layernorm.weight", {d}, b.attn_norm, ParamKind::kNorm);
  f(p + "post_attention_layernorm.weight", {d}, b.ffn_norm, ParamKind::kNorm);
  const std::string a = p + "self_attn.";
  if (c.q_lora_rank > 0) {
    f(a + "q_a_proj.weight", {c.q_lora_rank, d}, b.attn.wq_a, ParamKind::kMatrix);
    f(a + "q_a_layernorm.weight", {c.q_lora_rank}, b.attn.q_norm, ParamKind::kNorm);
    f(a + "q_b_proj.weight", {h * c.qk_head_dim(), c.q_lora_rank}, b.attn.wq_b, ParamKind::kMatrix);
  } else {
    f(a + "q_proj.weight", {h * c.qk_head_dim(), d}, b.attn.wq, ParamKind::kMatrix);
  }
  f(a + "kv_a_proj_with_mqa.weight", {c.kv_cache_width(), d}, b.attn.wkv_a, ParamKind::kMatrix);
  f(a + "kv_a_layernorm.weight", {c.kv_lora_rank}, b.attn.kv_norm, ParamKind::kNorm);
  f(a + "kv_b_proj.weight", {h * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank},
    b.attn.wkv_b, ParamKind::kMatrix);
  f(a + "o_proj.weight", {d, h * c.v_head_dim}, b.attn.wo, ParamKind::kMatrix);
  b.is_moe = moe;
  if (!moe) return visit_mlp(p + "mlp.", d, c.intermediate_size, b.mlp, f);
  MoeParams<T>& m = b.moe;
  f(p + "mlp.gate.weight", {c.n_routed_experts, d}, m.gate, ParamKind::kMatrix);
  m.experts.resize(c.n_routed_experts);
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    visit_mlp(p + "mlp.experts." + std::to_string(e) + ".", d, c.moe_intermediate_size,
              m.experts[e], f);
  }
  m.has_shared = c.n_shared_experts > 0;
  if (m.has_shared) {
    visit_mlp(p + "mlp.shared_experts.", d, c.n_shared_experts * c.moe_intermediate_size,
              m.shared, f);
  }
}

template <typename T, typename F>
void visit_params(const ModelConfig& c, ModelParams<T>& m, F&& f) {
  const int64_t d = c.hidden_size;
  f("model.embed_tokens.weight", {c.vocab_size, d}, m.embed, ParamKind::kMatrix);
  m.layers.resize(c.num_hidden_layers);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    visit_block(c, l, c.is_moe_layer(l), m.layers[l], f);
  }
  f("model.norm.weight", {d}, m.norm, ParamKind::kNorm);
  f("lm_head.weight", {c.vocab_size, d}, m.head, ParamKind::kMatrix);
  m.mtp.resize(c.num_nextn_predict_layers);
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t layer = c.num_hidden_layers + k;
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    MtpParams<T>& t = m.mtp[k];
    f(p + "enorm.weight", {d}, t.enorm, ParamKind::kNorm);
    f(p + "hnorm.weight", {d}, t.hnorm, ParamKind::kNorm);
    f(p + "eh_proj.weight", {d, 2 * d}, t.eh_proj, ParamKind::kMatrix);
    visit_block(c, layer, /*moe=*/true, t.block, f);
    f(p + "shared_head.norm.weight", {d}, t.head_norm, ParamKind::kNorm);
  }
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

constexpr int64_t kAlign = 16;  // elements: 64 bytes of float

}  // namespace

int64_t ParamLayout::count() const {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel;
  return n;
}

const ParamInfo* ParamLayout::find(const std::string& name) const {
  for (const auto& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

int64_t ParamLayout::mtp_offset(const ModelConfig& c) const {
  const std::string prefix = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
  for (const auto& p : params) {
    if (p.name.starts_with(prefix)) return p.offset;
  }
  return total;
}

Status check_trainable(const ModelConfig& c) {
  if (c.has_indexer()) {
    return Err("model_type deepseek_v32 (the lightning indexer of sparse attention) is not "
               "supported for training; train a deepseek_v3 config");
  }
  if (c.tie_word_embeddings) {
    return Err("tie_word_embeddings = true is not supported for training (DeepSeek-V3 does not "
               "tie lm_head to the embedding)");
  }
  if (c.num_nextn_predict_layers > 0 && c.n_routed_experts == 0) {
    return Err("MTP layers need a MoE config (n_routed_experts > 0)");
  }
  return OkStatus();
}

ParamLayout make_layout(const ModelConfig& c) {
  ParamLayout layout;
  ModelParams<float> unused;
  visit_params(c, unused, [&](const std::string& name, std::vector<int64_t> shape, float*&,
                              ParamKind kind) {
    const int64_t n = numel(shape);
    layout.params.push_back({.name = name, .shape = std::move(shape), .offset = layout.total,
                             .numel = n, .kind = kind});
    layout.total += (n + kAlign - 1) / kAlign * kAlign;
  });
  return layout;
}

template <typename T>
ModelParams<T> bind_params(const ModelConfig& c, T* base) {
  ModelParams<T> m;
  int64_t offset = 0;
  visit_params(c, m, [&](const std::string&, const std::vector<int64_t>& shape, T*& slot,
                         ParamKind) {
    slot = base + offset;
    offset += (numel(shape) + kAlign - 1) / kAlign * kAlign;
  });
  return m;
}

template ModelParams<float> bind_params(const ModelConfig&, float*);
template ModelParams<double> bind_params(const ModelConfig&, double*);

void init_params(const ParamLayout& layout, float* base, double init_std, uint64_t seed) {
  for (const ParamInfo& p : layout.params) {
    float* w = base + p.offset;
    if (p.kind == ParamKind::kNorm) {
      std::fill_n(w, p.numel, 1.0f);
      continue;
    }
    // One stream per tensor, keyed by its name: adding a tensor does not reshuffle the others.
    Rng rng(seed ^ hash_name(p.name));
    for (int64_t i = 0; i < p.numel; ++i) w[i] = float(rng.normal() * init_std);
  }
}

RouterBiases make_router_biases(const ModelConfig& c) {
  RouterBiases b(c.num_hidden_layers + c.num_nextn_predict_layers);
  if (c.topk_method != TopkMethod::kNoauxTc) return b;
  for (int64_t l = 0; l < int64_t(b.size()); ++l) {
    if (l >= c.num_hidden_layers || c.is_moe_layer(l)) b[l].assign(c.n_routed_experts, 0.0f);
  }
  return b;
}

}  // namespace dsv3::train
