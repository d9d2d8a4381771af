#include "engine/logit_comparison.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dsv3 {

namespace {

// log softmax in double: KL of nearly equal distributions is a difference of close numbers.
std::vector<double> log_softmax(const float* x, int64_t n) {
  const double mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
  const double log_sum = std::log(sum);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = double(x[i]) - mx - log_sum;
  return out;
}

}  // namespace

void LogitComparison::add(const float* reference, const float* tested, int64_t vocab,
                          int32_t next) {
  top1_agree_ += std::max_element(reference, reference + vocab) - reference ==
                 std::max_element(tested, tested + vocab) - tested;
  const std::vector<double> lp = log_softmax(reference, vocab);
  const std::vector<double> lq = log_softmax(tested, vocab);
  double kl = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    max_abs_ = std::max(max_abs_, std::fabs(reference[i] - tested[i]));
  }
  kl_sum_ += kl;
  if (next >= 0 && next < vocab) {
    reference_nll_ -= lp[next];
    tested_nll_ -= lq[next];
    ++scored_;
  }
  ++positions_;
}

double LogitComparison::top1_agreement() const {
  return positions_ ? double(top1_agree_) / double(positions_) : 0;
}

double LogitComparison::mean_kl() const { return positions_ ? kl_sum_ / double(positions_) : 0; }

double LogitComparison::reference_perplexity() const {
  return scored_ ? std::exp(reference_nll_ / double(scored_)) : 0;
}

double LogitComparison::tested_perplexity() const {
  return scored_ ? std::exp(tested_nll_ / double(scored_)) : 0;
}

}  // namespace dsv3
