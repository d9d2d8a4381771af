// Per-target elementwise kernels (RMSNorm, softmax, SiLU-mul, RoPE, dot, axpy, top-k), included
// once per Highway target by kernels/simd/ops.cc. Tails shorter than a vector use scalar loops.

#if defined(DSV3_KERNELS_SIMD_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef DSV3_KERNELS_SIMD_OPS_INL_H_
#undef DSV3_KERNELS_SIMD_OPS_INL_H_
#else
#define DSV3_KERNELS_SIMD_OPS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// Sum of squares with two accumulators (hides the FMA latency on short vectors).
inline float SumOfSquares(const float* x, int64_t n) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + L);
    s0 = hn::MulAdd(v0, v0, s0);
    s1 = hn::MulAdd(v1, v1, s1);
  }
  for (; i + L <= n; i += L) {
    const auto v = hn::LoadU(d, x + i);
    s0 = hn::MulAdd(v, v, s0);
  }
  float ss = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) ss += x[i] * x[i];
  return ss;
}

inline void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const float inv = float(1.0 / std::sqrt(double(SumOfSquares(x, n)) / double(n) + eps));
  const auto vinv = hn::Set(d, inv);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto v = hn::Mul(hn::LoadU(d, x + i), vinv);
    hn::StoreU(hn::Mul(v, hn::LoadU(d, weight + i)), d, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

inline void Softmax(float* x, int64_t n) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto vmax = hn::Set(d, x[0]);
  int64_t i = 0;
  for (; i + L <= n; i += L) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
  float mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  vmax = hn::Set(d, mx);
  auto vsum = hn::Zero(d);
  for (i = 0; i + L <= n; i += L) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmax));
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  double sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  const auto vinv = hn::Set(d, inv);
  for (i = 0; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vinv), d, x + i);
  for (; i < n; ++i) x[i] *= inv;
}

inline void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  // exp(88) is the largest power that stays finite; beyond it silu(g) is -0 either way.
  const auto limit = hn::Set(d, 88.0f);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto g = hn::LoadU(d, gate + i);
    const auto e = hn::Exp(d, hn::Min(hn::Neg(g), limit));
    const auto s = hn::Div(g, hn::Add(one, e));
    hn::StoreU(hn::Mul(s, hn::LoadU(d, up + i)), d, out + i);
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Lanes hold (a0, b0, a1, b1, ...) and (c0, s0, c1, s1, ...):
// even lanes become a c - b s, odd lanes a s + b c.
inline void RopeInterleaved(float* x, const float* cos_sin, int64_t dim) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const int64_t even_dim = dim / 2 * 2;
  int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR  // one lane holds no pair
  {
    for (; i + L <= even_dim; i += L) {
      const auto v = hn::LoadU(d, x + i);
      const auto cs = hn::LoadU(d, cos_sin + i);
      const auto c = hn::DupEven(cs), s = hn::DupOdd(cs);
      const auto swapped = hn::Reverse2(d, v);          // (b0, a0, b1, a1, ...)
      const auto signed_s = hn::OddEven(s, hn::Neg(s));  // (-s0, s0, -s1, s1, ...)
      hn::StoreU(hn::MulAdd(v, c, hn::Mul(swapped, signed_s)), d, x + i);
    }
  }
#else
  (void)L;
#endif
  for (; i < even_dim; i += 2) {
    const float c = cos_sin[i], s = cos_sin[i + 1];
    const float a = x[i], b = x[i + 1];
    x[i] = a * c - b * s;
    x[i + 1] = a * s + b * c;
  }
}

inline float Dot(const float* a, const float* b, int64_t n) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + L), hn::LoadU(d, b + i + L), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * L), hn::LoadU(d, b + i + 2 * L), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * L), hn::LoadU(d, b + i + 3 * L), s3);
  }
  for (; i + L <= n; i += L) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Eight vector accumulators: the loads, not the add latency, set the pace, so this is also
// the read loop of the memory-bandwidth probe.
inline float Sum(const float* x, int64_t n) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  hn::Vec<DF> s[8];
  for (auto& v : s) v = hn::Zero(d);
  int64_t i = 0;
  for (; i + 8 * L <= n; i += 8 * L) {
    for (int64_t j = 0; j < 8; ++j) s[j] = hn::Add(s[j], hn::LoadU(d, x + i + j * L));
  }
  for (; i + L <= n; i += L) s[0] = hn::Add(s[0], hn::LoadU(d, x + i));
  for (int64_t j = 1; j < 8; ++j) s[0] = hn::Add(s[0], s[j]);
  float total = hn::GetLane(hn::SumOfLanes(d, s[0]));
  for (; i < n; ++i) total += x[i];
  return total;
}

inline void Axpy(float a, const float* x, float* y, int64_t n) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

// Keeps the k best seen so far sorted in `indices` (insertion): no allocation, and for the
// router's sizes (k = 8 of 256) nearly every element is rejected by one comparison.
// Scanning in index order and requiring "strictly better" gives ties to the lower index.
inline void TopK(const float* x, int64_t n, int64_t k, int32_t* indices) {
  if (k <= 0) return;
  int64_t filled = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (filled == k && !(v > x[indices[k - 1]])) continue;
    int64_t pos = filled < k ? filled++ : k - 1;
    while (pos > 0 && v > x[indices[pos - 1]]) {
      indices[pos] = indices[pos - 1];
      --pos;
    }
    indices[pos] = int32_t(i);
  }
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // DSV3_KERNELS_SIMD_OPS_INL_H_
