#include "train/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "train/linear.h"

namespace dsv3::train {

namespace {
constexpr int64_t kChunkRows = 512;
}  // namespace

template <typename T>
double head_cross_entropy(const TrainContext& ctx, const HeadLoss<T>& a) {
  const int64_t V = ctx.config->vocab_size, d = ctx.config->hidden_size;
  Arena::Mark mark(*ctx.arena);
  const int64_t chunk = std::min(kChunkRows, a.rows);
  T* logits = scratch<T>(*ctx.arena, chunk * V);
  std::vector<double> row_loss(a.rows);
  for (int64_t r0 = 0; r0 < a.rows; r0 += chunk) {
    const int64_t rows = std::min(chunk, a.rows - r0);
    const T* h = a.h + r0 * d;
    linear_forward(ctx.pool, {rows, d, V}, h, a.head, logits);
    parallel_for(ctx.pool, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        T* z = logits + r * V;
        const int32_t target = a.targets[r0 + r];
        const T mx = *std::max_element(z, z + V);
        double sum = 0;
        for (int64_t i = 0; i < V; ++i) sum += double(std::exp(z[i] - mx));
        row_loss[r0 + r] = std::log(sum) - double(z[target] - mx);
        if (!a.dh) continue;
        // d loss / d z = softmax(z) - onehot(target)
        const T inv = T(1.0 / sum);
        for (int64_t i = 0; i < V; ++i) z[i] = std::exp(z[i] - mx) * inv * a.grad_scale;
        z[target] -= a.grad_scale;
      }
    });
    if (!a.dh) continue;
    linear_backward<T>(ctx.pool, {.shape = {rows, d, V}, .x = h, .w = a.head, .dy = logits,
                                  .dx = a.dh + r0 * d, .dw = a.dhead});
  }
  double total = 0;
  for (double l : row_loss) total += l;
  return total;
}

template double head_cross_entropy(const TrainContext&, const HeadLoss<float>&);
template double head_cross_entropy(const TrainContext&, const HeadLoss<double>&);

}  // namespace dsv3::train
