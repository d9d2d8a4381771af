#include "train/embedding.h"

#include <algorithm>

namespace dsv3::train {

template <typename T>
void embedding_forward(const TrainContext& ctx, const T* table, const int32_t* ids, int64_t rows,
                       int64_t d, T* out) {
  parallel_for(ctx.pool, rows, 256, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) std::copy_n(table + int64_t(ids[r]) * d, d, out + r * d);
  });
}

template <typename T>
void embedding_backward(const TrainContext& ctx, const int32_t* ids, const T* dout, int64_t rows,
                        int64_t d, T* dtable) {
  parallel_for(ctx.pool, d, 32, [&](int64_t begin, int64_t end) {
    for (int64_t r = 0; r < rows; ++r) {
      T* dst = dtable + int64_t(ids[r]) * d;
      const T* src = dout + r * d;
      for (int64_t i = begin; i < end; ++i) dst[i] += src[i];
    }
  });
}

template void embedding_forward(const TrainContext&, const float*, const int32_t*, int64_t,
                                int64_t, float*);
template void embedding_forward(const TrainContext&, const double*, const int32_t*, int64_t,
                                int64_t, double*);
template void embedding_backward(const TrainContext&, const int32_t*, const float*, int64_t,
                                 int64_t, float*);
template void embedding_backward(const TrainContext&, const int32_t*, const double*, int64_t,
                                 int64_t, double*);

}  // namespace dsv3::train
