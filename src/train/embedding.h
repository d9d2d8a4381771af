// Token embedding: a row gather forward, a scatter-add backward.
#pragma once

#include "train/context.h"

namespace dsv3::train {

// out[rows, d] = table[ids[r]].
template <typename T>
void embedding_forward(const TrainContext& ctx, const T* table, const int32_t* ids, int64_t rows,
                       int64_t d, T* out);

// dtable[ids[r]] += dout[r]. Threads split the d columns, so every table row is summed in
// token order whatever the thread count.
template <typename T>
void embedding_backward(const TrainContext& ctx, const int32_t* ids, const T* dout, int64_t rows,
                        int64_t d, T* dtable);

}  // namespace dsv3::train
