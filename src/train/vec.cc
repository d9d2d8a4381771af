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
void silu_mul(const float* gate_up, int64_t n, float* act) {
  HWY_DYNAMIC_DISPATCH(SiluMulImpl)(gate_up, n, act);
}
void silu_mul_backward(const float* gate_up, int64_t n, float* grad) {
  HWY_DYNAMIC_DISPATCH(SiluMulBackwardImpl)(gate_up, n, grad);
}

}  // namespace dsv3::train::vec
#endif
