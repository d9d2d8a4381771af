#include "tensor/matrix.h"

#include "util/check.h"

namespace dsv3 {

std::string_view format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return "f32";
    case WeightFormat::kF16: return "f16";
    case WeightFormat::kBF16: return "bf16";
    case WeightFormat::kFP8Block: return "fp8";
  }
  return "?";
}

int64_t format_row_bytes(WeightFormat f, int64_t cols) {
  switch (f) {
    case WeightFormat::kF32: return cols * 4;
    case WeightFormat::kF16:
    case WeightFormat::kBF16: return cols * 2;
    case WeightFormat::kFP8Block: return cols;
  }
  return 0;
}

Matrix Matrix::row_slice(int64_t begin, int64_t count) const {
  DSV3_CHECK(begin >= 0 && count >= 0 && begin + count <= rows, "slice [%ld, +%ld) of %ld rows",
             long(begin), long(count), long(rows));
  Matrix m = *this;
  m.rows = count;
  m.data = row_data(begin);
  m.row0 = row0 + begin;
  return m;
}

int64_t Matrix::bytes() const {
  int64_t n = rows * format_row_bytes(format, cols);
  if (format == WeightFormat::kFP8Block) {
    n += ((rows + block - 1) / block) * scale_cols * 4;
  }
  return n;
}

}  // namespace dsv3
