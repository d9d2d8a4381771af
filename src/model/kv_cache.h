// The latent KV cache of MLA: per layer and position, c_kv (kv_lora_rank values, after
// kv_a_layernorm) followed by the RoPE'd shared key k_pe (qk_rope_head_dim values).
// That is all attention needs in the absorbed form: 576 floats per token per layer for V3.
#pragma once

#include <cstdint>
#include <vector>

#include "util/check.h"

namespace dsv3 {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int64_t n_layers, int64_t width, int64_t capacity)
      : n_layers_(n_layers), width_(width), capacity_(capacity),
        data_(size_t(n_layers) * capacity * width) {}

  int64_t width() const { return width_; }
  int64_t capacity() const { return capacity_; }
  int64_t n_layers() const { return n_layers_; }
  // Positions [0, length) hold valid entries.
  int64_t length() const { return length_; }
  void set_length(int64_t n) {
    DSV3_CHECK(n >= 0 && n <= capacity_, "cache length %ld of capacity %ld", long(n),
               long(capacity_));
    length_ = n;
  }
  // Drops positions >= n (speculative decoding rolls back rejected drafts).
  void truncate(int64_t n) { set_length(n < length_ ? n : length_); }
  // Row `position` of `layer`: width() floats.
  float* at(int64_t layer, int64_t position) {
    return data_.data() + (size_t(layer) * capacity_ + position) * width_;
  }
  float* layer(int64_t l) { return at(l, 0); }
  int64_t bytes_per_token() const { return n_layers_ * width_ * int64_t(sizeof(float)); }

 private:
  int64_t n_layers_ = 0, width_ = 0, capacity_ = 0, length_ = 0;
  std::vector<float> data_;
};

}  // namespace dsv3
