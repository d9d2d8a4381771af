// Highway translation unit: compiled once per target by foreach_target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "train/vec.cc"
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_AVX3_DL)
#endif
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

#ifndef DSV3_TRAIN_VEC_ONCE
#define DSV3_TRAIN_VEC_ONCE
#include <cmath>

#include "train/vec.h"
#endif

HWY_BEFORE_NAMESPACE();
namespace dsv3::train::vec::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using D = hn::ScalableTag<float>;

float MaxImpl(const float* x, int64_t n) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  float m = x[0];
  int64_t i = 0;
  if (n >= L) {
    auto acc = hn::LoadU(d, x);
    for (i = L; i + L <= n; i += L) acc = hn::Max(acc, hn::LoadU(d, x + i));
    m = hn::GetLane(hn::MaxOfLanes(d, acc));
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

double ExpShiftedSumImpl(float* x, int64_t n, float shift) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto s = hn::Set(d, shift);
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), s));
    hn::StoreU(e, d, x + i);
    acc = hn::Add(acc, e);
  }
  double sum = double(hn::GetLane(hn::SumOfLanes(d, acc)));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += double(x[i]);
  }
  return sum;
}

void ScaleImpl(float* x, int64_t n, float a) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), va), d, x + i);
  for (; i < n; ++i) x[i] *= a;
}

void AxpyImpl(float a, const float* x, float* y, int64_t n) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

float DotImpl(const float* x, const float* y, int64_t n) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + L <= n; i += L) acc = hn::MulAdd(hn::LoadU(d, x + i), hn::LoadU(d, y + i), acc);
  float s = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

float RmsNormImpl(const float* x, const float* w, int64_t n, float eps, float* y) {
  const float rstd = 1.0f / std::sqrt(DotImpl(x, x, n) / float(n) + eps);
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto vr = hn::Set(d, rstd);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vr), hn::LoadU(d, w + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] = x[i] * rstd * w[i];
  return rstd;
}

void RmsNormBackwardImpl(const float* x, const float* w, float rstd, const float* dy, int64_t n,
                         float* dx, bool accumulate, float* dw) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  // mean(dy * w * x)
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    acc = hn::MulAdd(hn::Mul(hn::LoadU(d, dy + i), hn::LoadU(d, w + i)), hn::LoadU(d, x + i), acc);
  }
  float gx = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) gx += dy[i] * w[i] * x[i];
  const float c = gx / float(n) * rstd * rstd * rstd;
  const auto vr = hn::Set(d, rstd), vc = hn::Set(d, c);
  for (i = 0; i + L <= n; i += L) {
    const auto vdy = hn::LoadU(d, dy + i), vx = hn::LoadU(d, x + i);
    if (dw) hn::StoreU(hn::MulAdd(hn::Mul(vdy, vx), vr, hn::LoadU(d, dw + i)), d, dw + i);
    auto v = hn::NegMulAdd(vx, vc, hn::Mul(hn::Mul(vr, vdy), hn::LoadU(d, w + i)));
    if (accumulate) v = hn::Add(v, hn::LoadU(d, dx + i));
    hn::StoreU(v, d, dx + i);
  }
  for (; i < n; ++i) {
    if (dw) dw[i] += dy[i] * x[i] * rstd;
    const float v = rstd * dy[i] * w[i] - x[i] * c;
    dx[i] = accumulate ? dx[i] + v : v;
  }
}

void AdamWImpl(const AdamStep& s, float* p, float* g, float* m, float* v, int64_t n) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto b1 = hn::Set(d, s.beta1), b2 = hn::Set(d, s.beta2);
  const auto c1 = hn::Set(d, 1.0f - s.beta1), c2 = hn::Set(d, 1.0f - s.beta2);
  const auto step = hn::Set(d, s.step_size), inv_bias2 = hn::Set(d, 1.0f / s.bias2_sqrt);
  const auto eps = hn::Set(d, s.eps), decay = hn::Set(d, s.decay), gs = hn::Set(d, s.grad_scale);
  const auto zero = hn::Zero(d);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto gi = hn::Mul(hn::LoadU(d, g + i), gs);
    hn::StoreU(zero, d, g + i);
    const auto mi = hn::MulAdd(b1, hn::LoadU(d, m + i), hn::Mul(c1, gi));
    const auto vi = hn::MulAdd(b2, hn::LoadU(d, v + i), hn::Mul(hn::Mul(c2, gi), gi));
    hn::StoreU(mi, d, m + i);
    hn::StoreU(vi, d, v + i);
    const auto denom = hn::MulAdd(hn::Sqrt(vi), inv_bias2, eps);
    const auto pi = hn::Mul(hn::LoadU(d, p + i), decay);
    hn::StoreU(hn::NegMulAdd(step, hn::Div(mi, denom), pi), d, p + i);
  }
  for (; i < n; ++i) {
    const float gi = g[i] * s.grad_scale;
    g[i] = 0.0f;
    m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * gi;
    v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * gi * gi;
    p[i] = p[i] * s.decay - s.step_size * (m[i] / (std::sqrt(v[i]) * (1.0f / s.bias2_sqrt) + s.eps));
  }
}

// sigmoid(g) = 1 / (1 + exp(-g))
template <class V>
V Sigmoid(D d, V g) {
  return hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), hn::Exp(d, hn::Neg(g))));
}

void SiluMulImpl(const float* gate_up, int64_t n, float* act) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto g = hn::LoadU(d, gate_up + i);
    const auto u = hn::LoadU(d, gate_up + n + i);
    hn::StoreU(hn::Mul(hn::Mul(g, Sigmoid(d, g)), u), d, act + i);
  }
  for (; i < n; ++i) {
    const float g = gate_up[i];
    act[i] = g / (1.0f + std::exp(-g)) * gate_up[n + i];
  }
}

void SiluMulBackwardImpl(const float* gate_up, int64_t n, float* grad) {
  const D d;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto g = hn::LoadU(d, gate_up + i);
    const auto u = hn::LoadU(d, gate_up + n + i);
    const auto da = hn::LoadU(d, grad + i);
    const auto s = Sigmoid(d, g);
    hn::StoreU(hn::Mul(da, hn::Mul(g, s)), d, grad + n + i);
    const auto dsilu = hn::Mul(s, hn::MulAdd(g, hn::Sub(one, s), one));
    hn::StoreU(hn::Mul(hn::Mul(da, u), dsilu), d, grad + i);
  }
  for (; i < n; ++i) {
    const float g = gate_up[i], u = gate_up[n + i], da = grad[i];
    const float s = 1.0f / (1.0f + std::exp(-g));
    grad[n + i] = da * g * s;
    grad[i] = da * u * s * (1.0f + g * (1.0f - s));
  }
}

}  // namespace dsv3::train::vec::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::train::vec {

HWY_EXPORT(MaxImpl);
HWY_EXPORT(ExpShiftedSumImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(DotImpl);
HWY_EXPORT(AdamWImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(RmsNormBackwardImpl);
HWY_EXPORT(SiluMulImpl);
HWY_EXPORT(SiluMulBackwardImpl);

float max(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxImpl)(x, n); }
double exp_shifted_sum(float* x, int64_t n, float shift) {
  return HWY_DYNAMIC_DISPATCH(ExpShiftedSumImpl)(x, n, shift);
}
void scale(float* x, int64_t n, float a) { HWY_DYNAMIC_DISPATCH(ScaleImpl)(x, n, a); }
void axpy(float a, const float* x, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyImpl)(a, x, y, n);
}
float dot(const float* x, const float* y, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotImpl)(x, y, n);
}
void adamw(const AdamStep& s, float* p, float* g, float* m, float* v, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AdamWImpl)(s, p, g, m, v, n);
}
float rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y) {
  return HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, w, n, eps, y);
}
void rmsnorm_backward(const float* x, const float* w, float rstd, const float* dy, int64_t n,
                      float* dx, bool accumulate, float* dw) {
  HWY_DYNAMIC_DISPATCH(RmsNormBackwardImpl)(x, w, rstd, dy, n, dx, accumulate, dw);
}
void silu_mul(const float* gate_up, int64_t n, float* act) {
  HWY_DYNAMIC_DISPATCH(SiluMulImpl)(gate_up, n, act);
}
void silu_mul_backward(const float* gate_up, int64_t n, float* grad) {
  HWY_DYNAMIC_DISPATCH(SiluMulBackwardImpl)(gate_up, n, grad);
}

}  // namespace dsv3::train::vec
#endif
