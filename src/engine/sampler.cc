#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace dsv3 {

Status validate(const SamplingParams& p) {
  auto bad = [](const char* name, double v, const char* range) {
    return Err("sampling parameter ", name, " = ", std::to_string(v), " is out of range (expected ",
               range, ")");
  };
  if (!(p.temperature >= 0 && p.temperature <= 100)) return bad("temperature", p.temperature, "0..100");
  if (p.top_k < 0) return bad("top_k", p.top_k, ">= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) return bad("top_p", p.top_p, "(0, 1]");
  if (!(p.min_p >= 0 && p.min_p <= 1)) return bad("min_p", p.min_p, "0..1");
  if (!(p.repeat_penalty > 0 && p.repeat_penalty <= 10)) {
    return bad("repeat_penalty", p.repeat_penalty, "(0, 10]");
  }
  if (p.repeat_last_n < -1) return bad("repeat_last_n", p.repeat_last_n, ">= -1");
  if (!(p.presence_penalty >= -2 && p.presence_penalty <= 2)) {
    return bad("presence_penalty", p.presence_penalty, "-2..2");
  }
  if (!(p.frequency_penalty >= -2 && p.frequency_penalty <= 2)) {
    return bad("frequency_penalty", p.frequency_penalty, "-2..2");
  }
  return OkStatus();
}

void apply_penalties(const SamplingParams& p, std::span<const int32_t> history,
                     std::span<float> logits) {
  if (p.repeat_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f) return;
  size_t n = history.size();
  if (p.repeat_last_n >= 0) n = std::min(n, size_t(p.repeat_last_n));
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : history.last(n)) ++counts[t];
  for (const auto& [tok, count] : counts) {
    if (tok < 0 || size_t(tok) >= logits.size()) continue;
    float& l = logits[tok];
    // CTRL-style repetition penalty: shrink towards "less likely" whatever the sign.
    l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
    l -= p.presence_penalty + float(count) * p.frequency_penalty;
  }
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

void Sampler::distribution(std::span<const float> logits, std::span<const int32_t> history,
                           std::vector<float>& probs) {
  const size_t V = logits.size();
  scratch_.assign(logits.begin(), logits.end());
  apply_penalties(params_, history, scratch_);
  probs.assign(V, 0.0f);
  if (params_.greedy()) {
    probs[std::max_element(scratch_.begin(), scratch_.end()) - scratch_.begin()] = 1.0f;
    return;
  }
  // Candidates sorted by logit, best first; only as many as top-k keeps need sorting.
  order_.resize(V);
  std::iota(order_.begin(), order_.end(), 0);
  const size_t k = params_.top_k > 0 ? std::min(V, size_t(params_.top_k)) : V;
  auto better = [this](int32_t a, int32_t b) {
    return scratch_[a] > scratch_[b] || (scratch_[a] == scratch_[b] && a < b);
  };
  std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), better);
  order_.resize(k);
  // Softmax over the candidates at temperature 1 for top-p / min-p (llama.cpp order).
  const float best = scratch_[order_[0]];
  std::vector<double> p(k);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) sum += p[i] = std::exp(double(scratch_[order_[i]] - best));
  size_t keep = k;
  if (params_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < k; ++i) {
      cum += p[i] / sum;
      if (cum >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    size_t i = 1;
    while (i < keep && p[i] >= params_.min_p * p[0]) ++i;
    keep = i;
  }
  // Temperature on what is left.
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    const double q = std::exp(double(scratch_[order_[i]] - best) / params_.temperature);
    probs[order_[i]] = float(q);
    total += q;
  }
  for (size_t i = 0; i < keep; ++i) probs[order_[i]] = float(probs[order_[i]] / total);
}

int32_t Sampler::draw(std::span<const float> probs) {
  const double u = uniform();
  double cum = 0;
  int32_t last_nonzero = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    cum += probs[i];
    last_nonzero = int32_t(i);
    if (u < cum) return int32_t(i);
  }
  return last_nonzero;  // rounding left u just above the total
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  std::vector<float> probs;
  distribution(logits, history, probs);
  return draw(probs);
}

}  // namespace dsv3
