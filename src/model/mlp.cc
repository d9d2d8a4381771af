#include "model/mlp.h"

#include "kernels/kernels.h"

namespace dsv3 {

void mlp_forward(const MlpWeights& w, const float* x, int64_t T, Arena& arena, float* out) {
  const int64_t inter = w.w1.rows;
  Arena::Mark mark(arena);
  float* gate = arena.floats(T * inter);
  float* up = arena.floats(T * inter);
  kernels::matmul(w.w1, x, T, gate);
  kernels::matmul(w.w3, x, T, up);
  kernels::silu_mul(gate, up, T * inter, gate);
  kernels::matmul(w.w2, gate, T, out);
}

}  // namespace dsv3
