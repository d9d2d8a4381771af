// Highway translation unit of the latent attention kernel (kernels::latent_attention), compiled
// once per target.
//
// Decoding with MLA scores every head of one token against the same cached rows [c_kv ; k_pe],
// so the heads are the vector lanes: the query is transposed once (qt[c] = column c of every
// head), and a row's scores are broadcast(k[s][c]) * qt[c] summed over c, one vector of heads
// per row with no horizontal sums. A block of rows is scored, turned into probabilities with an
// online softmax (running maximum and sum per head, rescaling what was accumulated), and
// multiplied back into the output the same way: ot[c] += p[s] * broadcast(k[s][c]). Each row
// is read once, from L1, by both products.
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

// Rows per block (one score accumulator each) and output columns per pass of the weighted sum
// (one accumulator each): both fit the register file with the broadcasts beside them.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
inline constexpr int64_t kBlockRows = 16;
inline constexpr int64_t kValueChunk = 16;
#else
inline constexpr int64_t kBlockRows = 8;
inline constexpr int64_t kValueChunk = 8;
#endif

// Below any score: exp of it minus a real score is 0, and Highway's Exp is defined there
// (unlike at -inf).
inline constexpr float kNoScore = -1e30f;

// scores[i] = sum_c row[i][c] * qt[c] for i < kBlockRows (rows past the block's end repeat
// its last row; the caller ignores them). Meanwhile the next rows, `ahead` (kBlockRows rows of
// `width` floats, back to back), are fetched a line at a time: 16 rows read side by side are
// 16 streams the hardware prefetcher would not follow in time.
HWY_INLINE void ScoreBlock(const float* const* row, const float* qt, int64_t width,
                           const float* ahead, VF* scores) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  constexpr int64_t kLineFloats = 16;
  VF acc[kBlockRows];
  for (int64_t i = 0; i < kBlockRows; ++i) acc[i] = hn::Zero(d);
  for (int64_t c = 0; c < width; ++c) {
    if (ahead && c % kLineFloats == 0) {
      for (int64_t i = 0; i < kBlockRows; ++i) hwy::Prefetch(ahead + i * width + c);
    }
    const VF q = hn::LoadU(d, qt + c * L);
    for (int64_t i = 0; i < kBlockRows; ++i) acc[i] = hn::MulAdd(hn::Set(d, row[i][c]), q, acc[i]);
  }
  for (int64_t i = 0; i < kBlockRows; ++i) scores[i] = acc[i];
}

// ot[c] = ot[c] * rescale + sum_i p[i] * row[i][c] for c in [c0, c0 + kC), i < n.
template <int64_t kC>
HWY_INLINE void AccumulateValues(const float* const* row, const float* p, int64_t n, int64_t c0,
                                 VF rescale, float* ot) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  VF acc[kC];
  for (int64_t j = 0; j < kC; ++j) acc[j] = hn::Mul(hn::LoadU(d, ot + (c0 + j) * L), rescale);
  for (int64_t i = 0; i < n; ++i) {
    const VF pi = hn::LoadU(d, p + i * L);
    const float* r = row[i] + c0;
    for (int64_t j = 0; j < kC; ++j) acc[j] = hn::MulAdd(pi, hn::Set(d, r[j]), acc[j]);
  }
  for (int64_t j = 0; j < kC; ++j) hn::StoreU(acc[j], d, ot + (c0 + j) * L);
}

// One group of Lanes(d) heads over one block of n rows: scores, the online softmax update of
// the group's running maximum and sum, and the weighted rows added to its output.
HWY_INLINE void AttendBlock(const float* const* row, int64_t n, const float* qt, int64_t width,
                            int64_t value_cols, const float* ahead, VF& max, VF& sum, float* p,
                            float* ot) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  VF scores[kBlockRows];
  ScoreBlock(row, qt, width, ahead, scores);
  VF block_max = scores[0];
  for (int64_t i = 1; i < n; ++i) block_max = hn::Max(block_max, scores[i]);
  const VF new_max = hn::Max(max, block_max);
  const VF rescale = hn::Exp(d, hn::Sub(max, new_max));
  VF block_sum = hn::Zero(d);
  for (int64_t i = 0; i < n; ++i) {
    const VF e = hn::Exp(d, hn::Sub(scores[i], new_max));
    block_sum = hn::Add(block_sum, e);
    hn::StoreU(e, d, p + i * L);
  }
  sum = hn::MulAdd(sum, rescale, block_sum);
  max = new_max;
  int64_t c = 0;
  for (; c + kValueChunk <= value_cols; c += kValueChunk) {
    AccumulateValues<kValueChunk>(row, p, n, c, rescale, ot);
  }
  for (; c < value_cols; ++c) AccumulateValues<1>(row, p, n, c, rescale, ot);
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

void LatentAttention(const Matrix& keys, detail::DequantizeRowFn decode_row, const float* q,
                     int64_t heads, float scale, int64_t value_cols, int64_t s0, int64_t s1,
                     const detail::LatentAttentionPart& out) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d)), width = keys.cols;
  const int64_t groups = (heads + L - 1) / L;
  // Scratch: the transposed, pre-scaled query and the state of every group of heads, the
  // block's probabilities, and its rows as float32 when the cache holds another format.
  float* qt = detail::thread_scratch(0, size_t(groups * width * L));
  float* ot = detail::thread_scratch(1, size_t(groups * (value_cols + 2) * L));
  float* p = detail::thread_scratch(2, size_t(kBlockRows * L));
  const bool f32 = keys.format == WeightFormat::kF32;
  float* decoded = f32 ? nullptr : detail::thread_scratch(3, size_t(kBlockRows * width));
  TransposeQuery(q, heads, width, scale, qt);
  // Each group's running maximum and sum follow its outputs.
  const int64_t group_floats = (value_cols + 2) * L;
  for (int64_t g = 0; g < groups; ++g) {
    float* og = ot + g * group_floats;
    std::fill_n(og, value_cols * L, 0.0f);
    std::fill_n(og + value_cols * L, L, kNoScore);
    std::fill_n(og + (value_cols + 1) * L, L, 0.0f);
  }
  const float* row[kBlockRows];
  for (int64_t b = s0; b < s1; b += kBlockRows) {
    const int64_t n = std::min(kBlockRows, s1 - b);
    for (int64_t i = 0; i < kBlockRows; ++i) {
      const int64_t s = b + std::min(i, n - 1);
      if (f32) {
        row[i] = reinterpret_cast<const float*>(keys.row_data(s));
      } else {
        if (i < n) decode_row(keys, s, decoded + i * width);
        row[i] = decoded + std::min(i, n - 1) * width;
      }
    }
    // Float32 rows are read in place: the first group of heads fetches the next block's.
    const float* ahead = f32 && b + 2 * kBlockRows <= s1
                             ? reinterpret_cast<const float*>(keys.row_data(b + kBlockRows))
                             : nullptr;
    for (int64_t g = 0; g < groups; ++g) {
      float* og = ot + g * group_floats;
      VF max = hn::LoadU(d, og + value_cols * L), sum = hn::LoadU(d, og + (value_cols + 1) * L);
      AttendBlock(row, n, qt + g * width * L, width, value_cols, g == 0 ? ahead : nullptr, max,
                  sum, p, og);
      hn::StoreU(max, d, og + value_cols * L);
      hn::StoreU(sum, d, og + (value_cols + 1) * L);
    }
  }
  // Back to one row per head: lane h % L of every output column of its group.
  const hn::RebindToSigned<DF> di;
  const auto column_step = hn::Mul(hn::Iota(di, 0), hn::Set(di, int32_t(L)));
  for (int64_t h = 0; h < heads; ++h) {
    const float* og = ot + (h / L) * group_floats + h % L;
    out.max[h] = og[value_cols * L];
    out.sum[h] = og[(value_cols + 1) * L];
    float* oh = out.o + h * value_cols;
    int64_t c = 0;
    for (; c + L <= value_cols; c += L) hn::StoreU(hn::GatherIndex(d, og + c * L, column_step), d, oh + c);
    for (; c < value_cols; ++c) oh[c] = og[c * L];
  }
}

void FillLatentAttention(detail::KernelTable& t) { t.latent_attention = &LatentAttention; }

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
