// Rotary position embedding of the decoupled RoPE dims, with YaRN frequency scaling.
// Frequencies follow precompute_freqs_cis() of the official inference/model.py.
#pragma once

#include <vector>

#include "model/config.h"

namespace dsv3 {

class RopeTable {
 public:
  RopeTable(const ModelConfig& c, int64_t max_positions);

  // (cos, sin) interleaved for each of the qk_rope_head_dim/2 frequencies at `position`.
  const float* at(int64_t position) const;
  int64_t max_positions() const { return max_positions_; }
  // Frequency of pair i (after YaRN), for tests.
  const std::vector<float>& frequencies() const { return freqs_; }

 private:
  int64_t dim_, max_positions_;
  std::vector<float> freqs_;
  std::vector<float> cos_sin_;  // [max_positions, dim]
};

// YaRN-scaled inverse frequencies, dim/2 of them.
std::vector<float> yarn_frequencies(const ModelConfig& c);

}  // namespace dsv3
