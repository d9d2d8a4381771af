#include "train/loss.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "train/blas.h"
#include "train/vec.h"

namespace dsv3::train {

namespace {

// Rows per logits chunk. Large chunks make large products (OpenBLAS runs [1024, 4096, 256]
// near 140 GFLOP/s a core, [128, 4096, 256] near 100) at the price of [chunk, vocab] scratch
// per group.
constexpr int64_t kChunkRows = 1024;
// Row groups, each one task with its own lm_head gradient partial. Fixed (not the thread
// count), so the sum over groups has the same order whatever the number of threads.
constexpr int64_t kGroups = 4;

// One row of logits z[V] -> its loss; when `grad_scale` is set, z becomes
// grad_scale * (softmax(z) - onehot(target)).
template <typename T>
double softmax_cross_entropy(T* z, int64_t V, int32_t target, const T* grad_scale) {
  if constexpr (std::is_same_v<T, float>) {
    const float mx = vec::max(z, V);
    const float zt = z[target] - mx;
    const double sum = vec::exp_shifted_sum(z, V, mx);
    if (grad_scale) {
      vec::scale(z, V, float(double(*grad_scale) / sum));
      z[target] -= *grad_scale;
    }
    return std::log(sum) - double(zt);
  } else {
    const T mx = *std::max_element(z, z + V);
    const T zt = z[target] - mx;
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += double(z[i] = std::exp(z[i] - mx));
    if (grad_scale) {
      const T f = T(double(*grad_scale) / sum);
      for (int64_t i = 0; i < V; ++i) z[i] *= f;
      z[target] -= *grad_scale;
    }
    return std::log(sum) - double(zt);
  }
}

}  // namespace

template <typename T>
double head_cross_entropy(const TrainContext& ctx, const HeadLoss<T>& a) {
  const int64_t V = ctx.config->vocab_size, d = ctx.config->hidden_size;
  const int64_t chunk = std::min(kChunkRows, a.rows);
  const int64_t max_groups = std::min(kGroups, (a.rows + chunk - 1) / chunk);
  const int64_t per_group = (a.rows + max_groups - 1) / max_groups;
  const int64_t groups = (a.rows + per_group - 1) / per_group;  // none of them empty
  const bool backward = a.dh != nullptr;
  Arena::Mark mark(*ctx.arena);
  T* logits = scratch<T>(*ctx.arena, groups * chunk * V);
  T* partial = backward && a.dhead ? scratch<T>(*ctx.arena, groups * V * d) : nullptr;
  std::vector<double> row_loss(a.rows);
  parallel_tasks(ctx.pool, groups, [&](int64_t g) {
    T* z = logits + g * chunk * V;
    T* dw = partial ? partial + g * V * d : nullptr;
    const int64_t end = std::min(a.rows, (g + 1) * per_group);
    for (int64_t r0 = g * per_group; r0 < end; r0 += chunk) {
      const int64_t rows = std::min(chunk, end - r0);
      const T* h = a.h + r0 * d;
      gemm(Gemm<T>{.tb = true, .m = rows, .n = V, .k = d, .a = h, .lda = d, .b = a.head,
                   .ldb = d, .c = z, .ldc = V});
      for (int64_t r = 0; r < rows; ++r) {
        if (a.predicted) {
          const T* row = z + r * V;
          a.predicted[r0 + r] = int32_t(std::max_element(row, row + V) - row);
        }
        row_loss[r0 + r] = softmax_cross_entropy(z + r * V, V, a.targets[r0 + r],
                                                 backward ? &a.grad_scale : nullptr);
      }
      if (!backward) continue;
      // dh = dz W; dW_g += dz^T h (the group's first chunk overwrites the partial).
      gemm(Gemm<T>{.m = rows, .n = d, .k = V, .a = z, .lda = V, .b = a.head, .ldb = d,
                   .c = a.dh + r0 * d, .ldc = d});
      if (dw) {
        gemm(Gemm<T>{.ta = true, .m = V, .n = d, .k = rows, .a = z, .lda = V, .b = h, .ldb = d,
                     .beta = T(r0 == g * per_group ? 0 : 1), .c = dw, .ldc = d});
      }
    }
  });
  if (partial) {
    parallel_for(ctx.pool, V * d, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t g = 0; g < groups; ++g) {
        const T* p = partial + g * V * d;
        for (int64_t i = begin; i < end; ++i) a.dhead[i] += p[i];
      }
    });
  }
  double total = 0;
  for (double l : row_loss) total += l;
  return total;
}

template double head_cross_entropy(const TrainContext&, const HeadLoss<float>&);
template double head_cross_entropy(const TrainContext&, const HeadLoss<double>&);

}  // namespace dsv3::train
