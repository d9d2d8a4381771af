// AdamW with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW), the report's
// betas (0.9, 0.95) and decay 0.1; no decay on norm weights (the router bias is no parameter).
// Global gradient-norm clipping and the warm-up / constant / cosine learning-rate schedule.
#pragma once

#include <cstdint>
#include <vector>

#include "train/params.h"
#include "util/thread_pool.h"

namespace dsv3::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  // Parameters at offsets below this are frozen: never updated (their gradients are only
  // cleared). 0 trains everything.
  int64_t first_trainable = 0;
};

class AdamW {
 public:
  AdamW(const ParamLayout& layout, AdamWConfig config);

  // One update with g = grads * grad_scale (the clipping factor): p *= 1 - lr*wd (matrices
  // only); p -= lr * m_hat / (sqrt(v_hat) + eps). The gradients are consumed: set to zero in
  // the same pass, ready for the next step's accumulation.
  void update(ThreadPool* pool, float* params, float* grads, double lr, float grad_scale = 1);
  // Zeroes the frozen parameters' gradients (before the norm that clipping reads).
  void clear_frozen(float* grads) const;

  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  std::vector<float>& exp_avg() { return m_; }
  std::vector<float>& exp_avg_sq() { return v_; }
  const std::vector<float>& exp_avg() const { return m_; }
  const std::vector<float>& exp_avg_sq() const { return v_; }

 private:
  // A range of one tensor, at most a chunk long: one task of the update.
  struct Range {
    int64_t offset, count;
    bool decay;
  };
  AdamWConfig config_;
  std::vector<Range> ranges_;
  std::vector<float> m_, v_;
  int64_t steps_ = 0;
};

// sqrt(sum g^2), summed in double in a fixed order (independent of the thread count).
double global_norm(ThreadPool* pool, const float* grads, int64_t n);

// Linear warm-up to `peak` over `warmup` steps, constant until `decay_start`, then cosine
// down to `min` at `total` (report section 4.2 uses this shape).
struct LrSchedule {
  double peak = 3e-3, min = 3e-4;
  int64_t warmup = 0, decay_start = 0, total = 0;
  double at(int64_t step) const;  // step counts updates from 0
};

}  // namespace dsv3::train
