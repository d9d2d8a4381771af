// A multi-token-prediction module (DeepSeek-V3 report section 2.2; conventions of
// spec/mtp.md): slot i combines the embedding of the token k positions ahead with the
// previous depth's hidden state, runs a full MoE decoder layer (causal over slots, RoPE
// position i) and predicts the token k+1 ahead with the shared head:
//   x_i = eh_proj([enorm(Emb(t_{i+k})) ; hnorm(h_i)])      (embedding first)
//   y = Block(x);  logits_i = head(shared_head.norm(y_i))
// h for depth 1 is the main model's hidden state after model.norm; depth k+1 reads depth k's
// shared_head.norm output (what inference chains drafts with).
#pragma once

#include <vector>

#include "train/block.h"

namespace dsv3::train {

template <typename T>
struct MtpActivations {
  std::vector<int32_t> tokens;  // [T] t_{i+k}, the embedded token of each slot
  std::vector<T> emb;           // [T, hidden] Emb(t_{i+k})
  std::vector<T> cat;           // [T, 2*hidden] [enorm(emb) ; hnorm(h)]
  std::vector<T> e_rstd, h_rstd;
  std::vector<T> x;  // [T, hidden] eh_proj output, the block's input
  BlockActivations<T> block;
  std::vector<T> y;  // [T, hidden] block output
  std::vector<T> y_rstd;
  std::vector<T> yn;  // [T, hidden] shared_head.norm(y): what the head reads
};

struct MtpInputs {
  const int32_t* tokens = nullptr;  // [T] t_{i+k} per slot
  const float* bias = nullptr;      // router bias of the module's MoE layer (may be null)
  double balance_alpha = 0;
};

// Fills act (act.yn is the output). embed is the shared embedding [vocab, hidden]; h [T,
// hidden] the previous depth's hidden state. Returns the router's balance loss.
template <typename T>
double mtp_forward(const TrainContext& ctx, const MtpParams<T>& w, const T* embed,
                   const MtpInputs& in, const T* h, MtpActivations<T>& act);

template <typename T>
struct MtpBackward {
  const MtpParams<T>* w = nullptr;
  MtpParams<T>* grad = nullptr;
  T* embed_grad = nullptr;  // [vocab, hidden] +=
  const T* h = nullptr;     // the forward's h
  const MtpActivations<T>* act = nullptr;
  double balance_alpha = 0;  // times the gradient scale
  T* dyn = nullptr;          // [T, hidden] gradient of act.yn (used as scratch)
  T* dh = nullptr;           // [T, hidden] gradient of h, added to
};

template <typename T>
void mtp_backward(const TrainContext& ctx, const MtpBackward<T>& a);

}  // namespace dsv3::train
