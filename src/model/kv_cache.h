// The latent KV cache of MLA: per layer and position, c_kv (kv_lora_rank values, after
// kv_a_layernorm) followed by the RoPE'd shared key k_pe (qk_rope_head_dim values).
// That is all attention needs in the absorbed form: 576 values per token per layer for V3.
// Rows are stored as float32, as BF16 / F16 to halve the cache, or as FP8 e4m3 to quarter it
// (`--kv-type`); attention reads a layer's rows as a matrix in that format, so the kernels
// convert on the fly. FP8 rows use one fixed scale of 1 (values saturate at +-448; the
// normalised c_kv and k_pe stay far below): e4m3 keeps 3 mantissa bits, so each value moves by
// up to 1/16 of itself, which shows in the logits (README: accuracy of each format).
// DeepSeek-V3.2 adds the lightning indexer's key cache beside it: per layer and position,
// index_dim e4m3 codes (one FP8 block) and their power-of-two scale.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/matrix.h"
#include "util/check.h"
#include "util/huge_pages.h"

namespace dsv3 {

class KvCache {
 public:
  KvCache() = default;
  // format: kF32, kBF16, kF16 or kFP8Block.
  // index_dim > 0 adds the indexer's key cache (V3.2).
  KvCache(int64_t n_layers, int64_t width, int64_t capacity,
          WeightFormat format = WeightFormat::kF32, int64_t index_dim = 0);

  int64_t width() const { return width_; }
  int64_t capacity() const { return capacity_; }
  int64_t n_layers() const { return n_layers_; }
  WeightFormat format() const { return format_; }
  // Positions [0, length) hold valid entries.
  int64_t length() const { return length_; }
  void set_length(int64_t n) {
    DSV3_CHECK(n >= 0 && n <= capacity_, "cache length %ld of capacity %ld", long(n),
               long(capacity_));
    length_ = n;
  }
  // Drops positions >= n (speculative decoding rolls back rejected drafts).
  void truncate(int64_t n) { set_length(n < length_ ? n : length_); }

  // Stores width() values as row `position` of `layer`, rounded to the cache's format.
  void write(int64_t layer, int64_t position, const float* values);
  // Row `position` of `layer` as float32.
  void read(int64_t layer, int64_t position, float* out) const;
  // Rows [0, positions) of `layer` as a [positions, width] matrix in the cache's format.
  Matrix rows(int64_t layer, int64_t positions) const;

  // The indexer's key cache (index_dim() > 0): e4m3 codes[index_dim] and their scale.
  int64_t index_dim() const { return index_dim_; }
  void write_index_key(int64_t layer, int64_t position, const uint8_t* codes, float scale);
  // Keys [0, positions) of `layer` as an FP8 [positions, index_dim] matrix with unit block
  // scales (the values are the codes' e4m3 values), and their scales[positions].
  Matrix index_keys(int64_t layer, int64_t positions) const;
  const float* index_key_scales(int64_t layer) const {
    return index_scales_.data() + size_t(layer) * capacity_;
  }

  // Latent rows plus the indexer's keys and scales.
  int64_t bytes_per_token() const { return latent_bytes_per_token() + index_bytes_per_token(); }
  int64_t latent_bytes_per_token() const { return n_layers_ * row_bytes_; }
  int64_t index_bytes_per_token() const {
    return index_dim_ ? n_layers_ * (index_dim_ + int64_t(sizeof(float))) : 0;
  }

 private:
  static constexpr int64_t kFp8Block = 128;
  Matrix view(const uint8_t* data, int64_t rows) const;
  uint8_t* row(int64_t layer, int64_t position) {
    return data_.data() + (size_t(layer) * capacity_ + position) * row_bytes_;
  }
  const uint8_t* row(int64_t layer, int64_t position) const {
    return data_.data() + (size_t(layer) * capacity_ + position) * row_bytes_;
  }

  int64_t n_layers_ = 0, width_ = 0, capacity_ = 0, length_ = 0, row_bytes_ = 0;
  WeightFormat format_ = WeightFormat::kF32;
  // Huge pages: sparse attention reads 2048 rows scattered over the whole cache per token.
  std::vector<uint8_t, HugePageAllocator<uint8_t>> data_;
  std::vector<float> fp8_scales_;  // FP8: the block scales of rows(), all 1
  int64_t index_dim_ = 0;
  std::vector<uint8_t> index_codes_;   // [layer, capacity, index_dim]
  std::vector<float> index_scales_;    // [layer, capacity]
  std::vector<float> index_unit_scales_;  // block scales of index_keys(), all 1
};

}  // namespace dsv3
