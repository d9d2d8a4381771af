// Scalar codecs of every weight format: the reference the SIMD kernels are tested against, and
// the writer of our own q8 / q4 formats (layouts in tensor/matrix.h).
#pragma once

#include <cstdint>
#include <span>

#include "tensor/matrix.h"
#include "util/thread_pool.h"

namespace dsv3 {

// e4m3fn byte -> float, through a 256-entry table (0x7f / 0xff are NaN).
float fp8_e4m3_lut(uint8_t v);

// out[w.cols] = row r of w as float32, for every format.
void decode_row(const Matrix& w, int64_t r, float* out);

// Writes x[cols] as row r of a kQ8 / kQ4 matrix with `cols` columns whose bytes start at `data`
// (format_data_bytes(f, rows, cols) of them). Rows may be written in any order and from
// several threads at once (each row owns its bytes).
void quantize_row(WeightFormat f, const float* x, int64_t cols, int64_t r, uint8_t* data);

// Bytes quantize_matrix needs for a rows x cols matrix in format `to`.
inline int64_t quantized_size(WeightFormat to, int64_t rows, int64_t cols) {
  return format_data_bytes(to, rows, cols);
}

// Quantizes src (any format) into dst, which must hold quantized_size(to, src.rows, src.cols)
// bytes, and returns the view of dst. `to` is kQ8 or kQ4. Padding is zeroed, so the bytes are
// deterministic and can be written to a checkpoint as they are. Rows are spread over `pool`
// when one is given (kernels::thread_pool() is the engine's).
Matrix quantize_matrix(const Matrix& src, WeightFormat to, std::span<uint8_t> dst,
                       ThreadPool* pool = nullptr);

}  // namespace dsv3
