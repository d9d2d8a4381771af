// The model's weights as typed views into the mapped checkpoint. Field names follow the
// official inference/model.py (wq_a, wkv_b, ...); weights.cc binds each entry of the tensor
// table (model/tensor_table.h: the Hugging Face names) to its field. Small vectors (norm
// weights, router bias) are converted to float32 once at load: they are a few KiB and every
// token reads them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "io/checkpoint.h"
#include "model/config.h"
#include "model/tensor_table.h"
#include "tensor/matrix.h"

namespace dsv3 {

// DeepSeek-V3.2's lightning indexer (self_attn.indexer.*): the dtypes the official code uses
// are kept as stored (wq_b, wk FP8; weights_proj BF16, used in float32).
struct IndexerWeights {
  Matrix wq_b;  // [index_n_heads * index_head_dim, q_lora], on MLA's q latent
  Matrix wk;    // [index_head_dim, hidden]
  std::vector<float> k_norm_weight, k_norm_bias;  // LayerNorm [index_head_dim]
  Matrix weights_proj;  // [index_n_heads, hidden]: each head's weight per token
};

struct AttentionWeights {
  Matrix wq;    // [H*(nope+rope), hidden], only when q_lora_rank == 0
  Matrix wq_a;  // [q_lora, hidden]
  std::vector<float> q_norm;  // [q_lora]
  Matrix wq_b;  // [H*(nope+rope), q_lora]
  Matrix wkv_a;  // [kv_lora + rope, hidden]
  std::vector<float> kv_norm;  // [kv_lora]
  Matrix wkv_b;  // [H*(nope+v), kv_lora], rows per head [k_nope | v]
  Matrix wo;     // [hidden, H*v]
  bool has_indexer = false;  // V3.2
  IndexerWeights indexer;
};

struct MlpWeights {  // SwiGLU: w2(silu(w1 x) * w3 x)
  Matrix w1;  // gate_proj [inter, hidden]
  Matrix w3;  // up_proj   [inter, hidden]
  Matrix w2;  // down_proj [hidden, inter]
};

struct GateWeights {
  Matrix weight;            // [n_routed_experts, hidden]
  std::vector<float> bias;  // e_score_correction_bias [n_routed_experts], may be empty
};

struct MoeWeights {
  int64_t layer = 0;  // checkpoint layer index (the MTP layers follow the main ones)
  GateWeights gate;
  // n_routed_experts; under expert parallelism only the held ones are bound (the others
  // have no data: held(e) is false).
  std::vector<MlpWeights> experts;
  bool held(int64_t e) const { return experts[size_t(e)].w1.data != nullptr; }
  MlpWeights shared;                // width n_shared_experts * moe_intermediate_size
  bool has_shared = false;
};

struct BlockWeights {
  std::vector<float> attn_norm;  // input_layernorm
  std::vector<float> ffn_norm;   // post_attention_layernorm
  AttentionWeights attn;
  bool is_moe = false;
  MlpWeights mlp;  // dense layers
  MoeWeights moe;  // MoE layers
};

struct MtpWeights {
  Matrix embed;  // embed_tokens (same values as the main embedding)
  std::vector<float> enorm, hnorm;
  Matrix eh_proj;  // [hidden, 2*hidden], input [embedding ; hidden]
  BlockWeights block;
  std::vector<float> head_norm;  // shared_head.norm
  Matrix head;                   // shared_head.head (same values as lm_head)
};

struct ModelWeights {
  Matrix embed;  // [vocab, hidden]
  std::vector<BlockWeights> layers;
  std::vector<float> norm;
  Matrix head;  // lm_head [vocab, hidden]
  std::vector<MtpWeights> mtp;
  std::string format_summary;  // e.g. "fp8 (120), bf16 (23)"
};

// Which part of the model a process binds. Everything by default; under expert parallelism
// rank 0 binds all but the routed experts it does not hold, and the other ranks bind only
// their routed experts.
struct WeightSelection {
  bool dense_part = true;  // embedding, attention, dense FFN, routers, shared experts, heads
  std::function<bool(int64_t layer, int64_t expert)> routed_expert;  // null: every expert

  bool wants_expert(int64_t layer, int64_t expert) const {
    return !routed_expert || routed_expert(layer, expert);
  }
  // Whether a checkpoint tensor belongs to this selection (the checkpoint opens only those).
  bool wants_tensor(const std::string& name) const;
};

// Binds every tensor the config calls for, checking shapes and dtypes; the error names the
// tensor, what was found and what was expected. `with_mtp` loads the MTP layer(s) too.
Result<ModelWeights> load_weights(const Checkpoint& ck, const ModelConfig& config, bool with_mtp,
                                  const WeightSelection& selection = {});

}  // namespace dsv3
