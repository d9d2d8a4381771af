// The trainable parameters of a DeepSeek-V3-architecture model: one contiguous float buffer
// (the master weights) and typed views into it, one view per Hugging Face tensor of the
// tensor table (model/tensor_table.h) but the router biases and the MTP layers' copies of the
// embedding and head. The same layout is bound over the gradient buffer and the
// optimizer moments, so `grads.layers[3].attn.wq_b` is the gradient of `params.layers[3]...`.
// Field names follow the official inference/model.py (wq_a, wkv_b, w1/w2/w3, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "util/result.h"

namespace dsv3::train {

// Matrices (and embeddings) start as N(0, init_std) and are weight-decayed; norm weights start
// at one and are not decayed.
enum class ParamKind { kMatrix, kNorm };

struct ParamInfo {
  std::string name;  // Hugging Face tensor name, e.g. model.layers.1.self_attn.q_b_proj.weight
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in elements from the start of the buffer (64-byte aligned)
  int64_t numel = 0;
  ParamKind kind = ParamKind::kMatrix;
};

struct ParamLayout {
  std::vector<ParamInfo> params;
  int64_t total = 0;  // elements, alignment padding included
  int64_t count() const;  // parameters, padding excluded
  const ParamInfo* find(const std::string& name) const;
  // Where the MTP layers' own parameters start: they come last, after lm_head (the embedding
  // and the head they read are the main model's). `total` without MTP layers.
  int64_t mtp_offset(const ModelConfig& c) const;
};

template <typename T>
struct AttentionParams {
  T* wq = nullptr;       // [H*(nope+rope), hidden], only when q_lora_rank == 0
  T* wq_a = nullptr;     // [q_lora, hidden]
  T* q_norm = nullptr;   // [q_lora]
  T* wq_b = nullptr;     // [H*(nope+rope), q_lora]
  T* wkv_a = nullptr;    // [kv_lora + rope, hidden]
  T* kv_norm = nullptr;  // [kv_lora]
  T* wkv_b = nullptr;    // [H*(nope+v), kv_lora], rows per head [k_nope | v]
  T* wo = nullptr;       // [hidden, H*v]
};

template <typename T>
struct MlpParams {  // SwiGLU: w2(silu(w1 x) * w3 x)
  T* w1 = nullptr;  // gate_proj [inter, hidden]
  T* w3 = nullptr;  // up_proj   [inter, hidden]
  T* w2 = nullptr;  // down_proj [hidden, inter]
  int64_t inter = 0;
};

template <typename T>
struct MoeParams {
  T* gate = nullptr;  // router [n_routed_experts, hidden]
  std::vector<MlpParams<T>> experts;
  MlpParams<T> shared;  // width n_shared_experts * moe_intermediate_size
  bool has_shared = false;
};

template <typename T>
struct BlockParams {
  T* attn_norm = nullptr;  // input_layernorm [hidden]
  T* ffn_norm = nullptr;   // post_attention_layernorm [hidden]
  AttentionParams<T> attn;
  bool is_moe = false;
  MlpParams<T> mlp;  // dense layers
  MoeParams<T> moe;  // MoE layers
};

// An MTP module. Its embed_tokens and shared_head.head are the main model's (the report
// shares them); checkpoints carry copies under the MTP names.
template <typename T>
struct MtpParams {
  T* enorm = nullptr;    // [hidden]
  T* hnorm = nullptr;    // [hidden]
  T* eh_proj = nullptr;  // [hidden, 2*hidden], input [enorm(embedding) ; hnorm(hidden)]
  BlockParams<T> block;  // a MoE decoder layer, layer index num_hidden_layers + depth
  T* head_norm = nullptr;  // shared_head.norm [hidden]
};

template <typename T>
struct ModelParams {
  T* embed = nullptr;  // [vocab, hidden]
  std::vector<BlockParams<T>> layers;
  T* norm = nullptr;  // [hidden]
  T* head = nullptr;  // lm_head [vocab, hidden]
  std::vector<MtpParams<T>> mtp;
};

// Refuses configs the trainer does not handle (tied embeddings), naming the key.
Status check_trainable(const ModelConfig& c);

ParamLayout make_layout(const ModelConfig& c);

// Views into `base`, which holds make_layout(c).total elements.
template <typename T>
ModelParams<T> bind_params(const ModelConfig& c, T* base);

// Matrices ~ N(0, init_std) (the report's 0.006), norms = 1; deterministic in `seed` and
// independent of thread counts.
void init_params(const ParamLayout& layout, float* base, double init_std, uint64_t seed);

// e_score_correction_bias of each layer (main layers, then MTP layers), by layer index; empty
// for dense layers and when the config routes without a bias (topk_method other than
// noaux_tc). Only selection reads it; aux-loss-free balancing moves it (balance.h).
using RouterBiases = std::vector<std::vector<float>>;
RouterBiases make_router_biases(const ModelConfig& c);

}  // namespace dsv3::train
