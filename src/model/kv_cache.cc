#include "model/kv_cache.h"

#include <cstring>

#include "kernels/kernels.h"
#include "tensor/dtype.h"
#include "tensor/weight_codec.h"

namespace dsv3 {

KvCache::KvCache(int64_t n_layers, int64_t width, int64_t capacity, WeightFormat format,
                 int64_t index_dim)
    : n_layers_(n_layers), width_(width), capacity_(capacity),
      row_bytes_(format_row_bytes(format, width)), format_(format),
      data_(size_t(n_layers) * size_t(capacity) * size_t(row_bytes_)), index_dim_(index_dim) {
  if (index_dim > 0) {
    index_codes_.assign(size_t(n_layers) * size_t(capacity) * size_t(index_dim), 0);
    index_scales_.assign(size_t(n_layers) * size_t(capacity), 0.0f);
    index_unit_scales_.assign(size_t((capacity + kFp8Block - 1) / kFp8Block) *
                                  size_t((index_dim + kFp8Block - 1) / kFp8Block),
                              1.0f);
  }
  DSV3_CHECK(format == WeightFormat::kF32 || format == WeightFormat::kBF16 ||
                 format == WeightFormat::kF16 || format == WeightFormat::kFP8Block,
             "KV cache format %s (expected f32, bf16, f16 or fp8)",
             std::string(format_name(format)).c_str());
  if (format == WeightFormat::kFP8Block) {
    fp8_scales_.assign(size_t((capacity + kFp8Block - 1) / kFp8Block) *
                           size_t((width + kFp8Block - 1) / kFp8Block),
                       1.0f);
  }
}

// Attaches the (unit) block scales an FP8 view needs.
Matrix KvCache::view(const uint8_t* data, int64_t rows) const {
  Matrix m = matrix_view(format_, rows, width_, data);
  if (format_ == WeightFormat::kFP8Block) {
    m.block_scales = fp8_scales_.data();
    m.block = kFp8Block;
    m.scale_cols = (width_ + kFp8Block - 1) / kFp8Block;
  }
  return m;
}

void KvCache::write(int64_t layer, int64_t position, const float* values) {
  uint8_t* dst = row(layer, position);
  visit_format(format_, [&]<typename Codec>(Codec) {
    if constexpr (!ElementCodec<Codec>) {
      DSV3_CHECK(false, "a KV cache cannot be %s", Codec::kName.data());
    } else {
      // FP8 rows have unit block scales (see view()).
      for (int64_t i = 0; i < width_; ++i) Codec::encode(values[i], dst + i * Codec::kValueBytes);
    }
  });
}

void KvCache::read(int64_t layer, int64_t position, float* out) const {
  kernels::dequantize_row(view(row(layer, position), 1), 0, out);
}

void KvCache::write_index_key(int64_t layer, int64_t position, const uint8_t* codes,
                              float scale) {
  DSV3_CHECK(index_dim_ > 0 && layer < n_layers_ && position < capacity_,
             "index key %ld of layer %ld (index_dim %ld, capacity %ld)", long(position),
             long(layer), long(index_dim_), long(capacity_));
  const size_t at = size_t(layer) * capacity_ + position;
  std::memcpy(index_codes_.data() + at * index_dim_, codes, size_t(index_dim_));
  index_scales_[at] = scale;
}

Matrix KvCache::index_keys(int64_t layer, int64_t positions) const {
  Matrix m = matrix_view(WeightFormat::kFP8Block, positions, index_dim_,
                         index_codes_.data() + size_t(layer) * capacity_ * index_dim_);
  m.block_scales = index_unit_scales_.data();
  m.block = kFp8Block;
  m.scale_cols = (index_dim_ + kFp8Block - 1) / kFp8Block;
  return m;
}

Matrix KvCache::rows(int64_t layer, int64_t positions) const {
  return view(row(layer, 0), positions);
}

}  // namespace dsv3
