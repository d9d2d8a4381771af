// A weight matrix [rows, cols] (y = W x) in the format it is stored in. Kernels read it
// directly; nothing is converted at load time.
#pragma once

#include <cstdint>
#include <string_view>

namespace dsv3 {

enum class WeightFormat : uint8_t {
  kF32,
  kF16,
  kBF16,
  // FP8 e4m3fn values with one float32 scale per block x block tile ("weight_scale_inv"):
  // W[r][c] = fp8[r][c] * scales[(row0 + r) / block][c / block]. Edge tiles are partial.
  kFP8Block,
};

std::string_view format_name(WeightFormat f);
// Bytes of one stored row (the scales of kFP8Block not included).
int64_t format_row_bytes(WeightFormat f, int64_t cols);

struct Matrix {
  WeightFormat format = WeightFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;  // row r starts at data + r * format_row_bytes(format, cols)
  // kFP8Block only:
  const float* block_scales = nullptr;  // [ceil(total_rows / block), scale_cols], row-major
  int64_t block = 128;
  int64_t scale_cols = 0;
  int64_t row0 = 0;  // index of this view's first row in the stored tensor (selects scale rows)

  bool empty() const { return data == nullptr; }
  const uint8_t* row_data(int64_t r) const { return data + r * format_row_bytes(format, cols); }
  // Rows [begin, begin + count) as a matrix of their own (per-head slices of kv_b, ...).
  Matrix row_slice(int64_t begin, int64_t count) const;
  // Bytes a full read of the matrix touches (weights plus scales).
  int64_t bytes() const;
};

}  // namespace dsv3
