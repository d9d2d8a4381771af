#include "train/norm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "train/vec.h"

namespace dsv3::train {

namespace {
// Rows per dw partial sum. Fixed, so the reduction order (and the result) does not depend on
// the number of threads.
constexpr int64_t kRowsPerPartial = 64;
}  // namespace

template <typename T>
void rmsnorm_forward(const TrainContext& ctx, const T* x, const T* w, int64_t rows, int64_t n,
                     T* y, T* rstd) {
  const double eps = ctx.config->rms_norm_eps;
  parallel_for(ctx.pool, rows, 32, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      if constexpr (std::is_same_v<T, float>) {
        rstd[r] = vec::rmsnorm(xr, w, n, float(eps), yr);
        continue;
      }
      double ss = 0;
      for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
      const T inv = T(1.0 / std::sqrt(ss / double(n) + eps));
      for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * inv * w[i];
      rstd[r] = inv;
    }
  });
}

template <typename T>
void rmsnorm_backward(const TrainContext& ctx, const RmsNormBackward<T>& a) {
  const int64_t n = a.n;
  const int64_t parts = (a.rows + kRowsPerPartial - 1) / kRowsPerPartial;
  Arena::Mark mark(*ctx.arena);
  T* partial = a.dw ? scratch<T>(*ctx.arena, parts * n) : nullptr;
  parallel_tasks(ctx.pool, parts, [&](int64_t p) {
    T* dw = partial ? partial + p * n : nullptr;
    if (dw) std::fill_n(dw, n, T(0));
    const int64_t end = std::min(a.rows, (p + 1) * kRowsPerPartial);
    for (int64_t r = p * kRowsPerPartial; r < end; ++r) {
      const T* x = a.x + r * n;
      const T* dy = a.dy + r * n;
      T* dx = a.dx + r * n;
      const T rs = a.rstd[r];
      if constexpr (std::is_same_v<T, float>) {
        vec::rmsnorm_backward(x, a.w, rs, dy, n, dx, a.accumulate_dx, dw);
        continue;
      }
      double gx = 0;
      for (int64_t i = 0; i < n; ++i) gx += double(dy[i]) * double(a.w[i]) * double(x[i]);
      const T c = T(gx / double(n)) * rs * rs * rs;
      if (dw) {
        for (int64_t i = 0; i < n; ++i) dw[i] += dy[i] * x[i] * rs;
      }
      for (int64_t i = 0; i < n; ++i) {
        const T v = rs * dy[i] * a.w[i] - x[i] * c;
        dx[i] = a.accumulate_dx ? dx[i] + v : v;
      }
    }
  });
  if (!a.dw) return;
  for (int64_t p = 0; p < parts; ++p) {
    for (int64_t i = 0; i < n; ++i) a.dw[i] += partial[p * n + i];
  }
}

template void rmsnorm_forward(const TrainContext&, const float*, const float*, int64_t, int64_t,
                              float*, float*);
template void rmsnorm_forward(const TrainContext&, const double*, const double*, int64_t,
                              int64_t, double*, double*);
template void rmsnorm_backward(const TrainContext&, const RmsNormBackward<float>&);
template void rmsnorm_backward(const TrainContext&, const RmsNormBackward<double>&);

}  // namespace dsv3::train
