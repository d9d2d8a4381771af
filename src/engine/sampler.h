// Turning logits into the next token: penalties, top-k, top-p, min-p, temperature, then a
// seeded draw. The chain follows llama.cpp's default order so its users get what they expect.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace dsv3 {

struct SamplingParams {
  float temperature = 0.8f;  // 0: greedy (argmax)
  int32_t top_k = 40;        // 0: off
  float top_p = 0.95f;       // 1: off
  float min_p = 0.05f;       // 0: off; drop tokens below min_p * p(best)
  float repeat_penalty = 1.0f;  // 1: off; divides positive logits of recent tokens
  int32_t repeat_last_n = 64;   // how many recent tokens the penalties look at (-1: all)
  float presence_penalty = 0.0f;   // OpenAI: minus this once per token present
  float frequency_penalty = 0.0f;  // OpenAI: minus this per occurrence
  uint64_t seed = 0xd5e3;

  bool greedy() const { return temperature == 0.0f; }
};

// Refuses absurd values, naming the parameter, the value and the accepted range.
Status validate(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // The distribution the next token is drawn from, after every step of the chain:
  // probs[vocab] sums to 1 (one-hot when greedy). `history` feeds the penalties.
  void distribution(std::span<const float> logits, std::span<const int32_t> history,
                    std::vector<float>& probs);
  // Draws the next token.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  // A draw from a given distribution with this sampler's generator (speculative decoding).
  int32_t draw(std::span<const float> probs);
  double uniform();  // in [0, 1)
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
  std::vector<int32_t> order_;
};

// Applies repetition / presence / frequency penalties to logits in place.
void apply_penalties(const SamplingParams& p, std::span<const int32_t> history,
                     std::span<float> logits);

}  // namespace dsv3
