#include "tensor/matrix.h"

#include "tensor/weight_codec.h"
#include "util/check.h"

namespace dsv3 {

std::string_view format_name(WeightFormat f) {
  return visit_format(f, []<typename Codec>(Codec) { return Codec::kName; });
}

std::optional<WeightFormat> format_from_name(std::string_view name) {
  for (int f = 0; f < kNumWeightFormats; ++f) {
    if (format_name(WeightFormat(f)) == name) return WeightFormat(f);
  }
  return std::nullopt;
}

bool is_quantized(WeightFormat f) {
  return visit_format(f, []<typename Codec>(Codec) { return Codec::kGroupQuantized; });
}

bool is_tiled(WeightFormat f) { return is_quantized(f) || is_kquant(f); }

int64_t quant_block_bytes(WeightFormat f) {
  return visit_format(f, []<typename Codec>(Codec) -> int64_t {
    if constexpr (Codec::kGroupQuantized) {
      return Codec::kBlockBytes;
    } else {
      return 0;
    }
  });
}

int64_t format_row_bytes(WeightFormat f, int64_t cols) {
  return visit_format(f, [cols]<typename Codec>(Codec) { return Codec::row_bytes(cols); });
}

int64_t format_data_bytes(WeightFormat f, int64_t rows, int64_t cols) {
  if (is_tiled(f)) rows = (rows + kQuantTileRows - 1) / kQuantTileRows * kQuantTileRows;
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
