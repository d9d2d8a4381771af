// The element-wise loops of a training step that matter next to the matrix products: softmax
// numerators of attention and of the vocab-wide cross-entropy, SwiGLU and its backward, and
// the vector helpers of the MoE combine. Highway, compiled for each x86 target and dispatched
// once per call (a whole row); every loop has a scalar tail. Exp is Highway's contrib Exp
// (about 1 ulp), so float results differ from std::exp in the last bits only.
#pragma once

#include <cstdint>

namespace dsv3::train::vec {

// max of x[n] (n >= 1).
float max(const float* x, int64_t n);
// x[i] = exp(x[i] - shift); returns the sum of the new x.
double exp_shifted_sum(float* x, int64_t n, float shift);
// x[i] *= a.
void scale(float* x, int64_t n, float a);
// y[i] += a * x[i].
void axpy(float a, const float* x, float* y, int64_t n);
// sum of x[i] * y[i].
float dot(const float* x, const float* y, int64_t n);
// y[n] = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps), returned. y may alias x.
float rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y);
// g = dy * w: dx[n] = rstd * g - x * rstd^3 * mean(g * x) (added to dx when accumulate; dx may
// alias dy otherwise); dw[n] += dy * x * rstd when dw is set.
void rmsnorm_backward(const float* x, const float* w, float rstd, const float* dy, int64_t n,
                      float* dx, bool accumulate, float* dw);
// One AdamW step over n elements (optimizer.h has the formulas); the gradient g[i] *
// grad_scale is used, then g[i] set to zero.
struct AdamStep {
  float beta1, beta2, step_size, bias2_sqrt, eps, decay, grad_scale;
};
void adamw(const AdamStep& s, float* p, float* g, float* m, float* v, int64_t n);
// act[i] = silu(g[i]) * u[i] with g = gate_up[0, n), u = gate_up[n, 2n).
void silu_mul(const float* gate_up, int64_t n, float* act);
// In: grad[0, n) holds d act. Out: grad = [d g | d u] (silu'(g) = s (1 + g (1 - s))).
void silu_mul_backward(const float* gate_up, int64_t n, float* grad);

}  // namespace dsv3::train::vec
