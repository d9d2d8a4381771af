#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "train/context.h"

namespace dsv3::train {

namespace {
constexpr int64_t kChunk = 1 << 16;  // elements per task and per partial sum
}  // namespace

AdamW::AdamW(const ParamLayout& layout, AdamWConfig config)
    : config_(config), decay_(layout.total, 0), m_(layout.total, 0.0f), v_(layout.total, 0.0f) {
  for (const ParamInfo& p : layout.params) {
    if (p.kind == ParamKind::kMatrix) std::fill_n(decay_.begin() + p.offset, p.numel, uint8_t(1));
  }
}

void AdamW::update(ThreadPool* pool, float* params, const float* grads, double lr) {
  ++steps_;
  const double b1 = config_.beta1, b2 = config_.beta2;
  const float bias1 = float(1.0 - std::pow(b1, double(steps_)));
  const float bias2_sqrt = float(std::sqrt(1.0 - std::pow(b2, double(steps_))));
  const float step_size = float(lr) / bias1;
  const float decay = float(1.0 - lr * config_.weight_decay);
  const float eps = float(config_.eps), fb1 = float(b1), fb2 = float(b2);
  parallel_for(pool, int64_t(m_.size()), kChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grads[i];
      m_[i] = fb1 * m_[i] + (1.0f - fb1) * g;
      v_[i] = fb2 * v_[i] + (1.0f - fb2) * g * g;
      float p = decay_[i] ? params[i] * decay : params[i];
      p -= step_size * m_[i] / (std::sqrt(v_[i]) / bias2_sqrt + eps);
      params[i] = p;
    }
  });
}

double global_norm(ThreadPool* pool, const float* grads, int64_t n) {
  const int64_t parts = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(parts, 0.0);
  parallel_tasks(pool, parts, [&](int64_t p) {
    double s = 0;
    for (int64_t i = p * kChunk; i < std::min(n, (p + 1) * kChunk); ++i) {
      s += double(grads[i]) * double(grads[i]);
    }
    partial[p] = s;
  });
  double total = 0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

void scale(ThreadPool* pool, float* grads, int64_t n, float factor) {
  parallel_for(pool, n, kChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) grads[i] *= factor;
  });
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  if (step < decay_start || total <= decay_start) return peak;
  const double progress = std::min(1.0, double(step - decay_start) / double(total - decay_start));
  return min + (peak - min) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace dsv3::train
