#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "train/context.h"
#include "train/vec.h"

namespace dsv3::train {

namespace {
constexpr int64_t kChunk = 1 << 16;  // elements per task and per partial sum
}  // namespace

AdamW::AdamW(const ParamLayout& layout, AdamWConfig config)
    : config_(config), m_(layout.total, 0.0f), v_(layout.total, 0.0f) {
  for (const ParamInfo& p : layout.params) {
    if (p.offset < config.first_trainable) continue;
    for (int64_t begin = 0; begin < p.numel; begin += kChunk) {
      ranges_.push_back({p.offset + begin, std::min(kChunk, p.numel - begin),
                         p.kind == ParamKind::kMatrix});
    }
  }
}

void AdamW::update(ThreadPool* pool, float* params, float* grads, double lr, float grad_scale) {
  ++steps_;
  const double b1 = config_.beta1, b2 = config_.beta2;
  const float bias1 = float(1.0 - std::pow(b1, double(steps_)));
  const float bias2_sqrt = float(std::sqrt(1.0 - std::pow(b2, double(steps_))));
  const float step_size = float(lr) / bias1;
  const float decay = float(1.0 - lr * config_.weight_decay);
  const vec::AdamStep with_decay{.beta1 = float(b1), .beta2 = float(b2), .step_size = step_size,
                                 .bias2_sqrt = bias2_sqrt, .eps = float(config_.eps),
                                 .decay = decay, .grad_scale = grad_scale};
  vec::AdamStep without_decay = with_decay;
  without_decay.decay = 1.0f;
  parallel_tasks(pool, int64_t(ranges_.size()), [&](int64_t task) {
    const Range& r = ranges_[task];
    vec::adamw(r.decay ? with_decay : without_decay, params + r.offset, grads + r.offset,
               m_.data() + r.offset, v_.data() + r.offset, r.count);
  });
}

void AdamW::clear_frozen(float* grads) const {
  std::fill(grads, grads + config_.first_trainable, 0.0f);
}

double global_norm(ThreadPool* pool, const float* grads, int64_t n) {
  const int64_t parts = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(parts, 0.0);
  parallel_tasks(pool, parts, [&](int64_t p) {
    const float* g = grads + p * kChunk;
    const int64_t count = std::min(n, (p + 1) * kChunk) - p * kChunk;
    partial[p] = double(vec::dot(g, g, count));
  });
  double total = 0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  if (step < decay_start || total <= decay_start) return peak;
  const double progress = std::min(1.0, double(step - decay_start) / double(total - decay_start));
  return min + (peak - min) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace dsv3::train
