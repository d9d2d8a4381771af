#include "train/gate.h"

#include <algorithm>
#include <cmath>

#include "model/gate.h"
#include "train/linear.h"

namespace dsv3::train {

template <typename T>
double router_forward(const TrainContext& ctx, const T* gate_w, const float* bias, const T* x,
                      double balance_alpha, RouterActivations<T>& act) {
  const ModelConfig& c = *ctx.config;
  const int64_t n = ctx.tokens(), N = c.n_routed_experts, K = c.num_experts_per_tok;
  const int64_t S = ctx.seq, B = ctx.batch;
  act.scores.resize(n * N);
  act.ids.resize(n * K);
  act.weights.resize(n * K);
  act.chosen_sum.resize(n);
  linear_forward(ctx.pool, {n, c.hidden_size, N}, x, gate_w, act.scores.data());
  const bool sigmoid = c.scoring_func == ScoringFunc::kSigmoid;
  const float rs = float(c.routed_scaling_factor);
  parallel_for(ctx.pool, n, 64, [&](int64_t begin, int64_t end) {
    float logits[1024], unused[1024];
    for (int64_t t = begin; t < end; ++t) {
      T* s = act.scores.data() + t * N;
      // Selection: inference's own routine on float logits (group limit, bias, tie order).
      std::copy_n(s, N, logits);
      route_one(c, bias, logits, act.ids.data() + t * K, unused);
      if (sigmoid) {
        for (int64_t i = 0; i < N; ++i) s[i] = T(1) / (T(1) + std::exp(-s[i]));
      } else {
        const T mx = *std::max_element(s, s + N);
        T sum = 0;
        for (int64_t i = 0; i < N; ++i) sum += (s[i] = std::exp(s[i] - mx));
        for (int64_t i = 0; i < N; ++i) s[i] /= sum;
      }
      const int32_t* ids = act.ids.data() + t * K;
      T* w = act.weights.data() + t * K;
      T sum = 0;
      for (int64_t j = 0; j < K; ++j) sum += (w[j] = s[ids[j]]);
      act.chosen_sum[t] = sum;
      const T scale = c.norm_topk_prob ? T(rs) / sum : T(rs);
      for (int64_t j = 0; j < K; ++j) w[j] *= scale;
    }
  });

  act.seq_load.assign(B * N, 0);
  act.load.assign(N, 0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t j = 0; j < K; ++j) {
      const int32_t e = act.ids[t * K + j];
      ++act.seq_load[(t / S) * N + e];
      ++act.load[e];
    }
  }
  if (balance_alpha == 0) return 0;
  double loss = 0;
  for (int64_t b = 0; b < B; ++b) {
    // sum_i f_i P_i = sum_t sum_i f_i s_it / sum_j s_jt / S
    for (int64_t t = b * S; t < (b + 1) * S; ++t) {
      const T* s = act.scores.data() + t * N;
      double total = 0, fp = 0;
      for (int64_t i = 0; i < N; ++i) total += double(s[i]);
      for (int64_t i = 0; i < N; ++i) {
        const double f = double(N) / double(K * S) * act.seq_load[b * N + i];
        fp += f * double(s[i]) / total;
      }
      loss += fp / double(S);
    }
  }
  return balance_alpha * loss / double(B);
}

template <typename T>
void router_backward(const TrainContext& ctx, const RouterBackward<T>& a) {
  const ModelConfig& c = *ctx.config;
  const RouterActivations<T>& act = *a.act;
  const int64_t n = ctx.tokens(), N = c.n_routed_experts, K = c.num_experts_per_tok;
  const int64_t S = ctx.seq, B = ctx.batch;
  const bool sigmoid = c.scoring_func == ScoringFunc::kSigmoid;
  const T rs = T(c.routed_scaling_factor);
  Arena::Mark mark(*ctx.arena);
  T* dlogits = scratch<T>(*ctx.arena, n * N);
  parallel_for(ctx.pool, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const T* s = act.scores.data() + t * N;
      const int32_t* ids = act.ids.data() + t * K;
      const T* dw = a.dweights + t * K;
      T* ds = dlogits + t * N;
      std::fill_n(ds, N, T(0));
      if (a.balance_alpha != 0) {
        // L = alpha/B sum_i f_i / S sum_t s'_it with s' = s / sum_j s_j.
        const int32_t* load = act.seq_load.data() + (t / S) * N;
        T total = 0, gs = 0;
        for (int64_t i = 0; i < N; ++i) total += s[i];
        for (int64_t i = 0; i < N; ++i) {
          ds[i] = T(a.balance_alpha / double(B * S) * double(N) / double(K * S) * load[i]);
          gs += ds[i] * s[i] / total;
        }
        for (int64_t i = 0; i < N; ++i) ds[i] = (ds[i] - gs) / total;
      }
      // w_j = rs * s_j / D (D = sum of the chosen s when norm_topk_prob, else 1).
      if (c.norm_topk_prob) {
        const T D = act.chosen_sum[t];
        T dw_w = 0;
        for (int64_t j = 0; j < K; ++j) dw_w += dw[j] * act.weights[t * K + j];
        for (int64_t j = 0; j < K; ++j) ds[ids[j]] += rs * dw[j] / D - dw_w / D;
      } else {
        for (int64_t j = 0; j < K; ++j) ds[ids[j]] += rs * dw[j];
      }
      if (sigmoid) {
        for (int64_t i = 0; i < N; ++i) ds[i] *= s[i] * (T(1) - s[i]);
      } else {
        T dot = 0;
        for (int64_t i = 0; i < N; ++i) dot += s[i] * ds[i];
        for (int64_t i = 0; i < N; ++i) ds[i] = s[i] * (ds[i] - dot);
      }
    }
  });
  linear_backward<T>(ctx.pool, {.shape = {n, c.hidden_size, N}, .x = a.x, .w = a.gate_w,
                                .dy = dlogits, .dx = a.dx, .accumulate_dx = true,
                                .dw = a.gate_grad});
}

template double router_forward(const TrainContext&, const float*, const float*, const float*,
                               double, RouterActivations<float>&);
template double router_forward(const TrainContext&, const double*, const float*, const double*,
                               double, RouterActivations<double>&);
template void router_backward(const TrainContext&, const RouterBackward<float>&);
template void router_backward(const TrainContext&, const RouterBackward<double>&);

}  // namespace dsv3::train
