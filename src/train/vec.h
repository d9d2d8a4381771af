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
// act[i] = silu(g[i]) * u[i] with g = gate_up[0, n), u = gate_up[n, 2n).
void silu_mul(const float* gate_up, int64_t n, float* act);
// In: grad[0, n) holds d act. Out: grad = [d g | d u] (silu'(g) = s (1 + g (1 - s))).
void silu_mul_backward(const float* gate_up, int64_t n, float* grad);

}  // namespace dsv3::train::vec
