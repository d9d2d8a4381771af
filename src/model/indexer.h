// The lightning indexer of DeepSeek Sparse Attention (DeepSeek-V3.2-Exp inference/model.py,
// class Indexer; the maths step by step in tests/data/golden/README.md, "DeepSeek-V3.2").
// Per query token it scores every cached token with a few FP8 heads and keeps the
// index_topk best; MLA then attends to those alone. Prefill, decode, MTP verification and
// the MTP layer (which has its own indexer and key cache) all come through here.
#pragma once

#include <span>

#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// The tokens each query row may attend to.
struct TokenSelection {
  int64_t slots = 0;          // index_topk: ids per row
  int32_t* ids = nullptr;     // [rows, slots]: ascending positions, the first counts[r] valid
  int32_t* counts = nullptr;  // [rows]: min(index_topk, visible positions of the row)

  // Whether row r (seeing `visible` positions) keeps all of them: plain causal attention.
  bool dense(int64_t r, int64_t visible) const { return counts[r] >= visible; }
};

// The indexer's projections of a batch's rows, which the caller computes in the same batches
// of products as MLA's own (mla_forward): q = wq_b qr [rows, heads * head_dim] on MLA's q
// latent after q_a_layernorm, k = wk x [rows, head_dim] and weights = weights_proj x
// [rows, heads] on MLA's input x. index_select rotates and quantizes them in place.
struct IndexerProjections {
  float* q = nullptr;
  float* k = nullptr;
  float* weights = nullptr;
};

// For the `rows` new tokens of `seqs`: writes their indexer keys (from p.k) into each
// sequence's cache (layer ctx.layer), then scores every visible cached token for each row and
// fills `out` (its arrays sized by the caller from ctx.arena).
// Traces "index_ids" [rows, slots] (-1 padded), and per sequence "index_head_weights"
// [count, heads] and, when it drops tokens, "index_scores" [count, start_pos + count] (-inf
// above the diagonal; rows of query chunks that keep every token are not scored: -inf too).
void index_select(const LayerContext& ctx, const IndexerWeights& w, const IndexerProjections& p,
                  int64_t rows, std::span<const SequenceSlice> seqs, const TokenSelection& out);

}  // namespace dsv3
