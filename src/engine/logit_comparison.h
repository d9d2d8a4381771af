// How far one model's logits are from a reference's over the same tokens: the numbers that
// say what a weight format costs (`dsv3 compare`, the quantization accuracy tests).
#pragma once

#include <cstdint>

namespace dsv3 {

class LogitComparison {
 public:
  // One position: reference and tested logits [vocab]; `next` is the token that actually
  // follows (for perplexities), or -1 when there is none.
  void add(const float* reference, const float* tested, int64_t vocab, int32_t next = -1);

  int64_t positions() const { return positions_; }
  int64_t top1_agreements() const { return top1_agree_; }
  double top1_agreement() const;  // fraction of positions with the same argmax
  double mean_kl() const;         // mean KL(reference || tested), nats
  float max_abs_diff() const { return max_abs_; }
  // exp(mean negative log-likelihood of `next`); 0 when no position had one.
  double reference_perplexity() const;
  double tested_perplexity() const;

 private:
  int64_t positions_ = 0;
  int64_t top1_agree_ = 0;
  double kl_sum_ = 0;
  float max_abs_ = 0;
  int64_t scored_ = 0;  // positions with a next token
  double reference_nll_ = 0, tested_nll_ = 0;
};

}  // namespace dsv3
