#include "tensor/matrix.h"

#include "tensor/kquant.h"
#include "util/check.h"

namespace dsv3 {

namespace {
int64_t quant_groups(int64_t cols) { return (cols + kQuantGroup - 1) / kQuantGroup; }
int64_t quant_tiles(int64_t rows) { return (rows + kQuantTileRows - 1) / kQuantTileRows; }
}  // namespace

std::string_view format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return "f32";
    case WeightFormat::kF16: return "f16";
    case WeightFormat::kBF16: return "bf16";
    case WeightFormat::kFP8Block: return "fp8";
    case WeightFormat::kQ8: return "q8";
    case WeightFormat::kQ4: return "q4";
    case WeightFormat::kQ4K: return "q4_k";
    case WeightFormat::kQ5K: return "q5_k";
    case WeightFormat::kQ6K: return "q6_k";
  }
  return "?";
}

std::optional<WeightFormat> format_from_name(std::string_view name) {
  for (int f = 0; f < kNumWeightFormats; ++f) {
    if (format_name(WeightFormat(f)) == name) return WeightFormat(f);
  }
  return std::nullopt;
}

bool is_quantized(WeightFormat f) { return f == WeightFormat::kQ8 || f == WeightFormat::kQ4; }

bool is_tiled(WeightFormat f) { return is_quantized(f) || is_kquant(f); }

int64_t quant_block_bytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kQ8: return 2 * kQuantTileRows + kQuantTileRows * kQuantGroup;
    case WeightFormat::kQ4: return 4 * kQuantTileRows + kQuantTileRows * kQuantGroup / 2;
    default: return 0;
  }
}

int64_t format_row_bytes(WeightFormat f, int64_t cols) {
  switch (f) {
    case WeightFormat::kF32: return cols * 4;
    case WeightFormat::kF16:
    case WeightFormat::kBF16: return cols * 2;
    case WeightFormat::kFP8Block: return cols;
    case WeightFormat::kQ8:
    case WeightFormat::kQ4: return quant_groups(cols) * quant_block_bytes(f) / kQuantTileRows;
    case WeightFormat::kQ4K:
    case WeightFormat::kQ5K:
    case WeightFormat::kQ6K:
      return cols / kKQuantSuperBlock * kquant_block_bytes(f) / kQuantTileRows;
  }
  return 0;
}

int64_t format_data_bytes(WeightFormat f, int64_t rows, int64_t cols) {
  if (is_tiled(f)) rows = quant_tiles(rows) * kQuantTileRows;
  return rows * format_row_bytes(f, cols);
}

Matrix Matrix::row_slice(int64_t begin, int64_t count) const {
  DSV3_CHECK(begin >= 0 && count >= 0 && begin + count <= rows, "slice [%ld, +%ld) of %ld rows",
             long(begin), long(count), long(rows));
  DSV3_CHECK(!is_tiled(format) || begin % kQuantTileRows == 0,
             "%s slice must start on a 16-row tile, not row %ld", format_name(format).data(),
             long(begin));
  Matrix m = *this;
  m.rows = count;
  m.data = row_data(begin);
  m.row0 = row0 + begin;
  return m;
}

int64_t Matrix::bytes() const {
  int64_t n = format_data_bytes(format, rows, cols);
  if (format == WeightFormat::kFP8Block) {
    n += ((rows + block - 1) / block) * scale_cols * 4;
  }
  return n;
}

Matrix matrix_view(WeightFormat f, int64_t rows, int64_t cols, const uint8_t* data) {
  Matrix m;
  m.format = f;
  m.rows = rows;
  m.cols = cols;
  m.data = data;
  return m;
}

}  // namespace dsv3
