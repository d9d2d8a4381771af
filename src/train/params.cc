#include "train/params.h"

#include <cmath>

#include "model/tensor_table.h"
#include "train/rng.h"

namespace dsv3::train {

namespace {

// Sizes the layer's containers before the table's entries are bound into them.
template <typename T>
void prepare_block(const ModelConfig& c, bool moe, BlockParams<T>& b) {
  b.is_moe = moe;
  if (!moe) {
    b.mlp.inter = c.intermediate_size;
    return;
  }
  b.moe.experts.resize(size_t(c.n_routed_experts));
  for (MlpParams<T>& e : b.moe.experts) e.inter = c.moe_intermediate_size;
  b.moe.has_shared = c.n_shared_experts > 0;
  b.moe.shared.inter = c.n_shared_experts * c.moe_intermediate_size;
}

// The parameter a table entry is, or null for the tensors that are not parameters here: the
// router bias (RouterBiases: balancing moves it, not gradients), the MTP layers' copies of the
// embedding and head (they read the main model's), and V3.2's indexer (check_trainable
// refuses it).
template <typename T>
T** slot_of(ModelParams<T>& m, const ModelConfig& c, const TensorEntry& e) {
  using R = TensorRole;
  MtpParams<T>* mtp = e.mtp ? &m.mtp[size_t(e.layer - c.num_hidden_layers)] : nullptr;
  BlockParams<T>* b = mtp ? &mtp->block : e.layer >= 0 ? &m.layers[size_t(e.layer)] : nullptr;
  switch (e.role) {
    case R::kEmbedding: return &m.embed;
    case R::kAttnNorm: return &b->attn_norm;
    case R::kFfnNorm: return &b->ffn_norm;
    case R::kQ: return &b->attn.wq;
    case R::kQA: return &b->attn.wq_a;
    case R::kQNorm: return &b->attn.q_norm;
    case R::kQB: return &b->attn.wq_b;
    case R::kKvA: return &b->attn.wkv_a;
    case R::kKvNorm: return &b->attn.kv_norm;
    case R::kKvB: return &b->attn.wkv_b;
    case R::kO: return &b->attn.wo;
    case R::kDenseGateProj: return &b->mlp.w1;
    case R::kDenseUpProj: return &b->mlp.w3;
    case R::kDenseDownProj: return &b->mlp.w2;
    case R::kRouter: return &b->moe.gate;
    case R::kExpertGateProj: return &b->moe.experts[size_t(e.expert)].w1;
    case R::kExpertUpProj: return &b->moe.experts[size_t(e.expert)].w3;
    case R::kExpertDownProj: return &b->moe.experts[size_t(e.expert)].w2;
    case R::kSharedGateProj: return &b->moe.shared.w1;
    case R::kSharedUpProj: return &b->moe.shared.w3;
    case R::kSharedDownProj: return &b->moe.shared.w2;
    case R::kNorm: return &m.norm;
    case R::kHead: return &m.head;
    case R::kMtpENorm: return &mtp->enorm;
    case R::kMtpHNorm: return &mtp->hnorm;
    case R::kMtpEhProj: return &mtp->eh_proj;
    case R::kMtpHeadNorm: return &mtp->head_norm;
    case R::kRouterBias:
    case R::kMtpEmbedding:
    case R::kMtpHead:
    case R::kIndexerQB:
    case R::kIndexerK:
    case R::kIndexerKNormWeight:
    case R::kIndexerKNormBias:
    case R::kIndexerWeightsProj: return nullptr;
  }
  return nullptr;
}

// Calls f(name, shape, slot, kind) for every parameter, in the tensor table's order (which
// keeps gate_proj and up_proj adjacent: the two products read one contiguous
// [2*inter, hidden] block).
template <typename T, typename F>
void visit_params(const ModelConfig& c, ModelParams<T>& m, F&& f) {
  m.layers.resize(size_t(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    prepare_block(c, c.is_moe_layer(l), m.layers[size_t(l)]);
  }
  m.mtp.resize(size_t(c.num_nextn_predict_layers));
  for (MtpParams<T>& t : m.mtp) prepare_block(c, /*moe=*/true, t.block);
  for (const TensorEntry& e : tensor_table(c)) {
    T** slot = slot_of(m, c, e);
    if (!slot) continue;
    f(e.name, e.shape, *slot, e.is_matrix() ? ParamKind::kMatrix : ParamKind::kNorm);
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
  for (const auto& p : params) {
    const auto part = parse_tensor_name(p.name);
    if (part && part->layer >= c.num_hidden_layers) return p.offset;
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
