// Multi-head latent attention for training (DeepSeek-V2 report section 2.1; official
// inference/model.py class MLA, naive form): queries through the q_lora compression, keys and
// values expanded per head from the kv_lora latent, one decoupled RoPE key shared by all heads.
// The whole sequence at once, causal, per head products on BLAS.
#pragma once

#include <vector>

#include "train/context.h"
#include "train/params.h"

namespace dsv3::train {

// Everything backward reads. Rows are the batch*seq tokens.
template <typename T>
struct MlaActivations {
  std::vector<T> qa;       // [T, q_lora] q_a(x), before q_a_layernorm (q_lora_rank > 0)
  std::vector<T> qa_rstd;  // [T]
  std::vector<T> qn;       // [T, q_lora] after q_a_layernorm
  std::vector<T> q;        // [T, H, nope+rope] queries, RoPE applied to the rope part
  std::vector<T> c_in;     // [T, kv_lora] the latent part of kv_a(x), before kv_a_layernorm
  std::vector<T> kv_rstd;  // [T]
  std::vector<T> c_kv;     // [T, kv_lora] after kv_a_layernorm
  std::vector<T> kv;       // [T, H, nope+v] kv_b(c_kv): per head [k_nope | v]
  std::vector<T> k;        // [T, H, nope+rope] keys: k_nope of the head | shared RoPE'd k_pe
  std::vector<T> probs;    // [B, H, S, S] causal attention weights; only the causal blocks
                           // (TrainContext::attention_block) are written
  std::vector<T> o;        // [T, H, v] attention output, o_proj's input
};

// out[T, hidden] = MLA(x[T, hidden]).
template <typename T>
void mla_forward(const TrainContext& ctx, const AttentionParams<T>& w, const T* x,
                 MlaActivations<T>& act, T* out);

template <typename T>
struct MlaBackward {
  const AttentionParams<T>* w = nullptr;
  AttentionParams<T>* grad = nullptr;  // gradients are added
  const T* x = nullptr;                // forward input [T, hidden]
  const MlaActivations<T>* act = nullptr;
  const T* dout = nullptr;  // [T, hidden]
  T* dx = nullptr;          // [T, hidden], overwritten
};

template <typename T>
void mla_backward(const TrainContext& ctx, const MlaBackward<T>& a);

}  // namespace dsv3::train
