#include "tensor/quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/weight_codec.h"
#include "util/check.h"

namespace dsv3 {

namespace {

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = fp8_e4m3_to_f32(uint8_t(v));
    return t;
  }();
  return table;
}

}  // namespace

namespace codec_detail {
const std::array<float, 256>& fp8_e4m3_values() { return fp8_table(); }
}  // namespace codec_detail

float fp8_e4m3_lut(uint8_t v) { return fp8_table()[v]; }

std::vector<int64_t> group_quantized_shape(WeightFormat f, int64_t rows, int64_t cols) {
  return visit_format(f, [&]<typename Codec>(Codec) -> std::vector<int64_t> {
    if constexpr (Codec::kGroupQuantized) {
      return Codec::stored_shape(rows, cols);
    } else {
      return {};
    }
  });
}

void decode_row(const Matrix& w, int64_t r, float* out) {
  visit_format(w.format, [&]<typename Codec>(Codec) { Codec::decode_row(w, r, out); });
}

void quantize_row(WeightFormat f, const float* x, int64_t cols, int64_t r, uint8_t* data) {
  visit_format(f, [&]<typename Codec>(Codec) {
    if constexpr (Codec::kGroupQuantized) {
      Codec::encode_row(x, cols, r, data);
    } else {
      DSV3_CHECK(false, "quantize_row to %s", Codec::kName.data());
    }
  });
}

Matrix quantize_matrix(const Matrix& src, WeightFormat to, std::span<uint8_t> dst,
                       ThreadPool* pool) {
  DSV3_CHECK(is_quantized(to), "quantize_matrix to %s", format_name(to).data());
  const int64_t need = quantized_size(to, src.rows, src.cols);
  DSV3_CHECK(int64_t(dst.size()) >= need, "quantize_matrix: %ld bytes for %ld", long(dst.size()),
             long(need));
  // Zero scales make the padding rows decode to 0; q8's zero point is 128.
  std::memset(dst.data(), 0, need);
  const auto rows = [&](int64_t begin, int64_t end) {
    std::vector<float> row(src.cols);
    for (int64_t r = begin; r < end; ++r) {
      decode_row(src, r, row.data());
      quantize_row(to, row.data(), src.cols, r, dst.data());
    }
  };
  if (pool) {
    pool->parallel_for(src.rows, 64, rows);
  } else {
    rows(0, src.rows);
  }
  return matrix_view(to, src.rows, src.cols, dst.data());
}

}  // namespace dsv3
