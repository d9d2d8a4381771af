#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "util/check.h"

namespace dsv3 {

namespace {
// Dimension index at which a frequency completes `rotations` turns over the original context.
double correction_dim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}
}  // namespace

std::vector<float> yarn_frequencies(const ModelConfig& c) {
  const int64_t dim = c.qk_rope_head_dim;
  const double base = c.rope_theta;
  std::vector<float> freqs(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    // The reference computes base^(2i/dim) in float32; do the same to stay bit-close.
    freqs[i] = 1.0f / std::pow(float(base), float(2 * i) / float(dim));
  }
  const YarnConfig& y = c.rope_scaling;
  if (!y.enabled || y.factor <= 1.0) return freqs;
  const double L0 = double(y.original_max_position_embeddings);
  const double low = std::max(std::floor(correction_dim(y.beta_fast, dim, base, L0)), 0.0);
  double high = std::min(std::ceil(correction_dim(y.beta_slow, dim, base, L0)), double(dim - 1));
  if (low == high) high += 0.001;
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float ramp = std::clamp(float((double(i) - low) / (high - low)), 0.0f, 1.0f);
    const float smooth = 1.0f - ramp;
    freqs[i] = freqs[i] / float(y.factor) * (1.0f - smooth) + freqs[i] * smooth;
  }
  return freqs;
}

RopeTable::RopeTable(const ModelConfig& c, int64_t max_positions)
    : dim_(c.qk_rope_head_dim), max_positions_(max_positions), freqs_(yarn_frequencies(c)) {
  // Hugging Face scales cos/sin by m(mscale)/m(mscale_all_dim) when the two differ
  // (both are equal in the released V2/V3 configs, so the factor is 1 there).
  double attn_factor = 1.0;
  const YarnConfig& y = c.rope_scaling;
  if (y.enabled && y.factor > 1.0 && y.mscale != y.mscale_all_dim) {
    auto m = [&y](double a) { return a <= 0 ? 1.0 : 0.1 * a * std::log(y.factor) + 1.0; };
    attn_factor = m(y.mscale) / m(y.mscale_all_dim);
  }
  cos_sin_.resize(size_t(max_positions) * dim_);
  for (int64_t p = 0; p < max_positions; ++p) {
    float* row = cos_sin_.data() + p * dim_;
    for (int64_t i = 0; i < dim_ / 2; ++i) {
      const float angle = float(p) * freqs_[i];  // float32 like torch.outer
      row[2 * i] = float(std::cos(double(angle)) * attn_factor);
      row[2 * i + 1] = float(std::sin(double(angle)) * attn_factor);
    }
  }
}

const float* RopeTable::at(int64_t position) const {
  DSV3_CHECK(position >= 0 && position < max_positions_, "position %ld outside RoPE table of %ld",
             long(position), long(max_positions_));
  return cos_sin_.data() + position * dim_;
}

}  // namespace dsv3
