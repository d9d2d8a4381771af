#include "model/kv_cache.h"

#include <cstring>

#include "kernels/kernels.h"
#include "tensor/dtype.h"

namespace dsv3 {

KvCache::KvCache(int64_t n_layers, int64_t width, int64_t capacity, WeightFormat format)
    : n_layers_(n_layers), width_(width), capacity_(capacity),
      row_bytes_(format_row_bytes(format, width)), format_(format),
      data_(size_t(n_layers) * size_t(capacity) * size_t(row_bytes_)) {
  DSV3_CHECK(format == WeightFormat::kF32 || format == WeightFormat::kBF16 ||
                 format == WeightFormat::kF16,
             "KV cache format %s (expected f32, bf16 or f16)",
             std::string(format_name(format)).c_str());
}

void KvCache::write(int64_t layer, int64_t position, const float* values) {
  uint8_t* dst = row(layer, position);
  switch (format_) {
    case WeightFormat::kBF16:
      for (int64_t i = 0; i < width_; ++i) {
        const uint16_t h = f32_to_bf16(values[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case WeightFormat::kF16:
      for (int64_t i = 0; i < width_; ++i) {
        const uint16_t h = f32_to_f16(values[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    default: std::memcpy(dst, values, size_t(width_) * sizeof(float));
  }
}

void KvCache::read(int64_t layer, int64_t position, float* out) const {
  const Matrix m = matrix_view(format_, 1, width_, row(layer, position));
  kernels::dequantize_row(m, 0, out);
}

Matrix KvCache::rows(int64_t layer, int64_t positions) const {
  return matrix_view(format_, positions, width_, row(layer, 0));
}

}  // namespace dsv3
