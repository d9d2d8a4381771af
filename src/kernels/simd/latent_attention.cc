// Highway translation unit of the latent attention kernel (kernels::latent_attention), compiled
// once per target.
//
// MLA scores every head of a token against the same cached rows [c_kv ; k_pe], so the heads
// are the vector lanes: the query is transposed once (qt[c] = column c of every
// head), and a row's scores are broadcast(k[s][c]) * qt[c] summed over c, one vector of heads
// per row with no horizontal sums. A block of rows is scored, turned into probabilities with an
// online softmax (running maximum and sum per head, rescaling what was accumulated), and
// multiplied back into the output the same way: ot[c] += p[s] * broadcast(k[s][c]). Each row
// is read once, from L1, by both products, and by both tokens of a prompt's pair.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/latent_attention.cc"
#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cstdint>

#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/dispatch.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Rows per block and output columns per pass of the weighted sum, for kT query tokens: the
// kT x rows score accumulators and the kT x columns output accumulators fit the register file
// with the broadcasts beside them.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
template <int64_t kT>
inline constexpr int64_t kBlockRows = 16 / kT;
template <int64_t kT>
inline constexpr int64_t kValueChunk = 16 / kT;
#else
template <int64_t kT>
inline constexpr int64_t kBlockRows = 8 / kT;
template <int64_t kT>
inline constexpr int64_t kValueChunk = 8 / kT;
#endif
inline constexpr int64_t kMaxRows = kBlockRows<1>;

// Below any score: exp of it minus a real score is 0, and Highway's Exp is defined there
// (unlike at -inf).
inline constexpr float kNoScore = -1e30f;

// One token's view of a group of heads: its transposed query, running maximum and sum (a
// vector of heads each) and outputs ot[c] (a vector of heads per value column).
struct TokenState {
  const float* qt;
  float* max;
  float* sum;
  float* ot;
};

// scores[t][i] = sum_c row[i][c] * qt_t[c] for rows i < kR (rows past the block's end repeat
// its last row; the caller ignores them). Meanwhile the next block's rows, ahead[i] (kR rows
// of `width` floats), are fetched a line at a time: rows read side by side are streams the
// hardware prefetcher would not follow in time (and selected rows are no stream at all).
template <int64_t kR, int64_t kT>
HWY_INLINE void ScoreBlock(const float* const* row, const TokenState* tok, int64_t width,
                           const float* const* ahead, VF (*scores)[kR]) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  constexpr int64_t kLineFloats = 16;
  VF acc[kT][kR];
  for (int64_t t = 0; t < kT; ++t) {
    for (int64_t i = 0; i < kR; ++i) acc[t][i] = hn::Zero(d);
  }
  for (int64_t c = 0; c < width; ++c) {
    if (ahead && c % kLineFloats == 0) {
      for (int64_t i = 0; i < kR; ++i) hwy::Prefetch(ahead[i] + c);
    }
    VF q[kT];
    for (int64_t t = 0; t < kT; ++t) q[t] = hn::LoadU(d, tok[t].qt + c * L);
    for (int64_t i = 0; i < kR; ++i) {
      const VF k = hn::Set(d, row[i][c]);
      for (int64_t t = 0; t < kT; ++t) acc[t][i] = hn::MulAdd(k, q[t], acc[t][i]);
    }
  }
  for (int64_t t = 0; t < kT; ++t) {
    for (int64_t i = 0; i < kR; ++i) scores[t][i] = acc[t][i];
  }
}

// ot_t[c] = ot_t[c] * rescale[t] + sum_i p_t[i] * row[i][c] for c in [c0, c0 + kC), i < n;
// p_t = p + t * kMaxRows * L.
template <int64_t kC, int64_t kT>
HWY_INLINE void AccumulateValues(const float* const* row, const float* p, int64_t n, int64_t c0,
                                 const VF* rescale, const TokenState* tok) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  VF acc[kT][kC];
  for (int64_t t = 0; t < kT; ++t) {
    for (int64_t j = 0; j < kC; ++j) {
      acc[t][j] = hn::Mul(hn::LoadU(d, tok[t].ot + (c0 + j) * L), rescale[t]);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    VF pi[kT];
    for (int64_t t = 0; t < kT; ++t) pi[t] = hn::LoadU(d, p + (t * kMaxRows + i) * L);
    const float* r = row[i] + c0;
    for (int64_t j = 0; j < kC; ++j) {
      const VF k = hn::Set(d, r[j]);
      for (int64_t t = 0; t < kT; ++t) acc[t][j] = hn::MulAdd(pi[t], k, acc[t][j]);
    }
  }
  for (int64_t t = 0; t < kT; ++t) {
    for (int64_t j = 0; j < kC; ++j) hn::StoreU(acc[t][j], d, tok[t].ot + (c0 + j) * L);
  }
}

// One group of Lanes(d) heads of kT tokens over the n rows of a block starting at row b:
// scores, the online softmax update of each token's running maximum and sum, and the weighted
// rows added to its outputs. Token t sees the rows below visible[t]; the others get weight 0.
template <int64_t kT>
HWY_INLINE void AttendBlock(const float* const* row, int64_t n, int64_t b, const int64_t* visible,
                            int64_t width, int64_t value_cols, const float* const* ahead, float* p,
                            const TokenState* tok) {
  constexpr int64_t kR = kBlockRows<kT>;
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  VF scores[kT][kR];
  ScoreBlock<kR, kT>(row, tok, width, ahead, scores);
  VF rescale[kT];
  for (int64_t t = 0; t < kT; ++t) {
    const int64_t seen = std::clamp<int64_t>(visible[t] - b, 0, n);
    const VF max = hn::LoadU(d, tok[t].max);
    VF new_max = max;
    for (int64_t i = 0; i < seen; ++i) new_max = hn::Max(new_max, scores[t][i]);
    rescale[t] = hn::Exp(d, hn::Sub(max, new_max));
    VF block_sum = hn::Zero(d);
    float* pt = p + t * kMaxRows * L;
    for (int64_t i = 0; i < seen; ++i) {
      const VF e = hn::Exp(d, hn::Sub(scores[t][i], new_max));
      block_sum = hn::Add(block_sum, e);
      hn::StoreU(e, d, pt + i * L);
    }
    for (int64_t i = seen; i < n; ++i) hn::StoreU(hn::Zero(d), d, pt + i * L);
    hn::StoreU(hn::MulAdd(hn::LoadU(d, tok[t].sum), rescale[t], block_sum), d, tok[t].sum);
    hn::StoreU(new_max, d, tok[t].max);
  }
  constexpr int64_t kC = kValueChunk<kT>;
  int64_t c = 0;
  for (; c + kC <= value_cols; c += kC) AccumulateValues<kC, kT>(row, p, n, c, rescale, tok);
  for (; c < value_cols; ++c) AccumulateValues<1, kT>(row, p, n, c, rescale, tok);
}

// qt[g][c][l] = scale * q[g L + l][c]: head group g's queries with the heads as lanes (the
// lanes past the last head zero), one gather per column.
HWY_INLINE void TransposeQuery(const float* q, int64_t heads, int64_t width, float scale,
                               float* qt) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto vscale = hn::Set(d, scale);
  for (int64_t g = 0; g * L < heads; ++g) {
    const int64_t n = std::min(L, heads - g * L);
    const auto head = hn::Min(hn::Iota(di, 0), hn::Set(di, int32_t(n - 1)));
    const auto index = hn::Mul(head, hn::Set(di, int32_t(width)));
    const auto valid = hn::FirstN(d, size_t(n));
    const float* qg = q + g * L * width;
    float* out = qt + g * width * L;
    for (int64_t c = 0; c < width; ++c) {
      const auto v = hn::Mul(hn::GatherIndex(d, qg + c, index), vscale);
      hn::StoreU(hn::IfThenElseZero(valid, v), d, out + c * L);
    }
  }
}

// Position s is row s of keys, or row ids[s] when there is a list of selected rows: those
// are read where they are stored, like a range.
template <int64_t kT>
void LatentAttentionTokens(const Matrix& keys, detail::DequantizeRowFn decode_row, const float* q,
                           int64_t heads, float scale, int64_t value_cols, int64_t s0, int64_t s1,
                           int64_t visible, const int32_t* ids,
                           const detail::LatentAttentionPart* out) {
  constexpr int64_t kR = kBlockRows<kT>;
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d)), width = keys.cols;
  const int64_t groups = (heads + L - 1) / L;
  // Scratch: per token the transposed, pre-scaled query and the state of every group of heads
  // (outputs, then running maximum, then sum); the block's probabilities; and its rows as
  // float32 when the cache holds another format.
  const int64_t q_floats = groups * width * L, group_floats = (value_cols + 2) * L;
  float* qt = detail::thread_scratch(0, size_t(kT * q_floats));
  float* state = detail::thread_scratch(1, size_t(kT * groups * group_floats));
  float* p = detail::thread_scratch(2, size_t(kT * kMaxRows * L));
  const bool f32 = keys.format == WeightFormat::kF32;
  float* decoded = f32 ? nullptr : detail::thread_scratch(3, size_t(kR * width));
  int64_t visible_rows[kT];  // token t sees the rows below visible_rows[t]
  for (int64_t t = 0; t < kT; ++t) {
    visible_rows[t] = visible + t;
    TransposeQuery(q + t * heads * width, heads, width, scale, qt + t * q_floats);
    for (int64_t g = 0; g < groups; ++g) {
      float* og = state + (t * groups + g) * group_floats;
      std::fill_n(og, value_cols * L, 0.0f);
      std::fill_n(og + value_cols * L, L, kNoScore);
      std::fill_n(og + (value_cols + 1) * L, L, 0.0f);
    }
  }
  auto row_of = [&](int64_t s) { return ids ? int64_t(ids[s]) : s; };
  auto f32_row = [&](int64_t s) { return reinterpret_cast<const float*>(keys.row_data(row_of(s))); };
  const float* row[kR];
  const float* ahead_rows[kR];
  for (int64_t b = s0; b < s1; b += kR) {
    const int64_t n = std::min(kR, s1 - b);
    for (int64_t i = 0; i < kR; ++i) {
      const int64_t s = b + std::min(i, n - 1);
      if (f32) {
        row[i] = f32_row(s);
      } else {
        if (i < n) decode_row(keys, row_of(s), decoded + i * width);
        row[i] = decoded + std::min(i, n - 1) * width;
      }
    }
    // Float32 rows are read in place: the first group of heads fetches the next block's.
    const bool fetch = f32 && b + 2 * kR <= s1;
    if (fetch) {
      for (int64_t i = 0; i < kR; ++i) ahead_rows[i] = f32_row(b + kR + i);
    }
    const float* const* ahead = fetch ? ahead_rows : nullptr;
    for (int64_t g = 0; g < groups; ++g) {
      TokenState tok[kT];
      for (int64_t t = 0; t < kT; ++t) {
        float* og = state + (t * groups + g) * group_floats;
        tok[t] = {.qt = qt + t * q_floats + g * width * L, .max = og + value_cols * L,
                  .sum = og + (value_cols + 1) * L, .ot = og};
      }
      AttendBlock<kT>(row, n, b, visible_rows, width, value_cols, g == 0 ? ahead : nullptr, p, tok);
    }
  }
  // Back to one row per head: lane h % L of every output column of its group.
  const hn::RebindToSigned<DF> di;
  const auto column_step = hn::Mul(hn::Iota(di, 0), hn::Set(di, int32_t(L)));
  for (int64_t t = 0; t < kT; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* og = state + (t * groups + h / L) * group_floats + h % L;
      out[t].max[h] = og[value_cols * L];
      out[t].sum[h] = og[(value_cols + 1) * L];
      float* oh = out[t].o + h * value_cols;
      int64_t c = 0;
      for (; c + L <= value_cols; c += L) {
        hn::StoreU(hn::GatherIndex(d, og + c * L, column_step), d, oh + c);
      }
      for (; c < value_cols; ++c) oh[c] = og[c * L];
    }
  }
}

void LatentAttention(const Matrix& keys, detail::DequantizeRowFn decode_row, const float* q,
                     int64_t tokens, int64_t heads, float scale, int64_t value_cols, int64_t s0,
                     int64_t s1, int64_t visible, const detail::LatentAttentionPart* out) {
  if (tokens == 2) {
    return LatentAttentionTokens<2>(keys, decode_row, q, heads, scale, value_cols, s0, s1,
                                    visible, nullptr, out);
  }
  LatentAttentionTokens<1>(keys, decode_row, q, heads, scale, value_cols, s0, s1, visible,
                           nullptr, out);
}

void LatentAttentionRows(const Matrix& keys, detail::DequantizeRowFn decode_row,
                         const int32_t* ids, const float* q, int64_t heads, float scale,
                         int64_t value_cols, int64_t s0, int64_t s1,
                         const detail::LatentAttentionPart* out) {
  LatentAttentionTokens<1>(keys, decode_row, q, heads, scale, value_cols, s0, s1, s1, ids, out);
}

void FillLatentAttention(detail::KernelTable& t) {
  t.latent_attention = &LatentAttention;
  t.latent_attention_rows = &LatentAttentionRows;
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::kernels {
HWY_EXPORT(FillLatentAttention);
void detail::fill_simd_latent_attention(detail::KernelTable& t) {
  HWY_DYNAMIC_DISPATCH(FillLatentAttention)(t);
}
}  // namespace dsv3::kernels
#endif
