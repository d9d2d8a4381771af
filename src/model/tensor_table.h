// Every tensor of a checkpoint in the Hugging Face layout, derived from config.json alone:
// its name, shape, role, layer and expert. This is the one list of the model's tensors: the
// loader binds it (weights.cc), `dsv3 synth` writes it, training lays out its parameters by
// it, `dsv3 info` counts it, `dsv3 quantize` decides per role, and expert parallelism selects
// routed experts by the (layer, expert) its names carry.
//
// Order (also the order of training's parameter buffer and of synth's files): embedding;
// per layer input_layernorm, post_attention_layernorm, attention (and V3.2's indexer), then
// the FFN (dense: gate/up/down; MoE: router, router bias, routed experts, shared experts);
// the final norm and lm_head; then each MTP layer (embedding copy, enorm, hnorm, eh_proj, its
// MoE block, shared_head.norm, shared_head.head).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/config.h"

namespace dsv3 {

enum class TensorRole {
  kEmbedding,   // model.embed_tokens.weight [vocab, hidden]
  kAttnNorm,    // input_layernorm.weight [hidden]
  kFfnNorm,     // post_attention_layernorm.weight [hidden]
  kQ,           // q_proj [H*(nope+rope), hidden], only when q_lora_rank == 0
  kQA,          // q_a_proj [q_lora, hidden]
  kQNorm,       // q_a_layernorm [q_lora]
  kQB,          // q_b_proj [H*(nope+rope), q_lora]
  kKvA,         // kv_a_proj_with_mqa [kv_lora + rope, hidden]
  kKvNorm,      // kv_a_layernorm [kv_lora]
  kKvB,         // kv_b_proj [H*(nope+v), kv_lora]
  kO,           // o_proj [hidden, H*v]
  kIndexerQB,   // V3.2 indexer.wq_b [index_heads * index_dim, q_lora]
  kIndexerK,    // indexer.wk [index_dim, hidden]
  kIndexerKNormWeight,  // indexer.k_norm.weight [index_dim] (LayerNorm)
  kIndexerKNormBias,    // indexer.k_norm.bias [index_dim]
  kIndexerWeightsProj,  // indexer.weights_proj [index_heads, hidden]
  kDenseGateProj,   // dense layers' mlp.gate_proj [inter, hidden]
  kDenseUpProj,     // mlp.up_proj [inter, hidden]
  kDenseDownProj,   // mlp.down_proj [hidden, inter]
  kRouter,          // mlp.gate.weight [n_routed_experts, hidden]
  kRouterBias,      // mlp.gate.e_score_correction_bias [n_routed_experts], noaux_tc only
  kExpertGateProj,  // mlp.experts.E.gate_proj [moe_inter, hidden]
  kExpertUpProj,    // mlp.experts.E.up_proj [moe_inter, hidden]
  kExpertDownProj,  // mlp.experts.E.down_proj [hidden, moe_inter]
  kSharedGateProj,  // mlp.shared_experts.gate_proj [n_shared * moe_inter, hidden]
  kSharedUpProj,    // mlp.shared_experts.up_proj
  kSharedDownProj,  // mlp.shared_experts.down_proj [hidden, n_shared * moe_inter]
  kNorm,            // model.norm.weight [hidden]
  kHead,            // lm_head.weight [vocab, hidden]; absent with tied embeddings
  kMtpEmbedding,    // MTP embed_tokens: a copy of the main embedding in the release
  kMtpENorm,        // enorm.weight [hidden]
  kMtpHNorm,        // hnorm.weight [hidden]
  kMtpEhProj,       // eh_proj [hidden, 2*hidden], input [enorm(embedding) ; hnorm(hidden)]
  kMtpHeadNorm,     // shared_head.norm.weight [hidden]
  kMtpHead,         // shared_head.head: a copy of lm_head (or of the tied embedding)
};

struct TensorEntry {
  std::string name;  // e.g. "model.layers.3.mlp.experts.7.up_proj.weight"
  std::vector<int64_t> shape;
  TensorRole role = TensorRole::kEmbedding;
  int64_t layer = -1;   // checkpoint layer index (MTP layers follow the main ones); -1: none
  int64_t expert = -1;  // a routed expert's index; -1: not a routed expert
  bool mtp = false;     // part of an MTP layer
  // F8_E4M3 with F32 block scales in the FP8 releases (attention, dense FFN and expert
  // projections, the indexer's wq_b and wk); embeddings, norms, the router, eh_proj,
  // weights_proj and the heads stay BF16.
  bool fp8_in_release = false;
  // `dsv3 quantize --to q8|q4` may rewrite it: every matrix but the router and the indexer
  // (discrete choices that small rounding errors would flip), and kv_b only when its per-head
  // row slices start on q8/q4 tiles.
  bool quantizable = false;

  bool is_matrix() const { return shape.size() == 2; }
  int64_t numel() const;
};

bool is_routed_expert(TensorRole role);

// The names of the model's tensors, from one table of roles (tensor_table.cc): the
// Hugging Face checkpoint's, and llama.cpp's in GGUF files (gguf-py constants.py,
// MODEL_ARCH.DEEPSEEK2), which stacks a layer's routed experts into one tensor per role and
// calls layer L "blk.L".
//
// "model.embed_tokens.weight", "model.layers.L.self_attn.q_a_proj.weight",
// "model.layers.L.mlp.experts.E.up_proj.weight": `layer` and `expert` as the role needs them.
std::string tensor_name(TensorRole role, int64_t layer = -1, int64_t expert = -1);
// "token_embd.weight", "blk.L.attn_q_a.weight", "blk.L.ffn_up_exps.weight" (all experts);
// nullopt for the roles llama.cpp has no tensor for (V3.2's indexer).
std::optional<std::string> gguf_tensor_name(TensorRole role, int64_t layer = -1);
// llama.cpp may also store kv_b_proj split per head: attn_k_b (k_nope transposed) and
// attn_v_b.
enum class KvBHalf { kK, kV };
std::string gguf_kv_b_half_name(int64_t layer, KvBHalf half);

// A tensor name read back: its role, layer and expert (-1 where the role has none).
struct TensorNameParts {
  TensorRole role = TensorRole::kEmbedding;
  int64_t layer = -1;
  int64_t expert = -1;
  std::optional<KvBHalf> kv_b_half;  // GGUF only: one half of a split kv_b
};
// The inverse of tensor_name(); nullopt for a name it never gives.
std::optional<TensorNameParts> parse_tensor_name(std::string_view name);
// The inverse of gguf_tensor_name() and gguf_kv_b_half_name() (expert -1 for the stacked
// experts); nullopt for a name they never give.
std::optional<TensorNameParts> parse_gguf_tensor_name(std::string_view name);

// The table for `c`, in the order above.
std::vector<TensorEntry> tensor_table(const ModelConfig& c);

// An FP8 matrix "X.weight" keeps its block scales (weight_scale_inv) in "X.weight_scale_inv".
std::string fp8_scales_name(const std::string& weight_name);
// "X.weight_scale_inv" -> "X.weight"; nullopt for any other name.
std::optional<std::string> fp8_scaled_weight_of(std::string_view scales_name);

// The (layer, expert) of a routed expert's tensor, "model.layers.L.mlp.experts.E.*" (its
// weight, or the weight's FP8 scales): the inverse of the table's names, for code that holds
// only tensor names (the checkpoint's file filter, memory plans).
std::optional<std::pair<int64_t, int64_t>> routed_expert_of(const std::string& tensor_name);

// Parameter counts, the sums over the table: for `dsv3 info` and the benchmark's bytes per
// token.
struct ParameterCounts {
  int64_t total = 0;  // main model + MTP
  int64_t mtp = 0;
  int64_t active_per_token = 0;  // main model: attention, dense, shared + top-k experts, head
  int64_t embedding = 0;
};
ParameterCounts count_parameters(const ModelConfig& c);

}  // namespace dsv3
