#include "train/moe.h"

#include <algorithm>
#include <numeric>

#include "train/row_ops.h"

namespace dsv3::train {

namespace {

// Experts by decreasing row count: the big ones start first, so the threads finish together.
std::vector<int32_t> busiest_first(const std::vector<int32_t>& offsets) {
  std::vector<int32_t> experts(offsets.size() - 1);
  std::iota(experts.begin(), experts.end(), 0);
  std::stable_sort(experts.begin(), experts.end(), [&](int32_t a, int32_t b) {
    return offsets[a + 1] - offsets[a] > offsets[b + 1] - offsets[b];
  });
  return experts;
}

// Counting sort of the T*K choices by expert.
template <typename T>
void sort_by_expert(int64_t choices, int64_t experts, MoeActivations<T>& act) {
  const std::vector<int32_t>& ids = act.router.ids;
  act.offsets.assign(experts + 1, 0);
  act.order.resize(choices);
  act.row_of.resize(choices);
  for (int64_t i = 0; i < choices; ++i) ++act.offsets[ids[i] + 1];
  for (int64_t e = 0; e < experts; ++e) act.offsets[e + 1] += act.offsets[e];
  std::vector<int32_t> fill(act.offsets.begin(), act.offsets.end() - 1);
  for (int64_t i = 0; i < choices; ++i) {
    const int32_t row = fill[ids[i]]++;
    act.order[row] = int32_t(i);
    act.row_of[i] = row;
  }
}

}  // namespace

template <typename T>
double moe_forward(const TrainContext& ctx, const MoeParams<T>& w, const float* bias,
                   double balance_alpha, const T* x, MoeActivations<T>& act, T* out) {
  const ModelConfig& c = *ctx.config;
  const int64_t n = ctx.tokens(), d = c.hidden_size, N = c.n_routed_experts;
  const int64_t K = c.num_experts_per_tok, inter = c.moe_intermediate_size;
  double balance;
  {
    ProfileScope p(ctx.profile, "router fwd");
    balance = router_forward(ctx, w.gate, bias, x, balance_alpha, act.router);
    sort_by_expert(n * K, N, act);
  }

  if (w.has_shared) {
    ProfileScope p(ctx.profile, "shared expert fwd");
    act.shared_gate_up.resize(n * 2 * w.shared.inter);
    act.shared_act.resize(n * w.shared.inter);
    mlp_forward(ctx.pool, w.shared, d, x, n,
                {.gate_up = act.shared_gate_up.data(), .act = act.shared_act.data()}, out);
  } else {
    std::fill_n(out, n * d, T(0));
  }

  {
    ProfileScope p(ctx.profile, "routed experts fwd", 6.0 * double(n * K * d * inter));
    act.xs.resize(n * K * d);
    act.gate_up.resize(n * K * 2 * inter);
    act.act.resize(n * K * inter);
    act.ys.resize(n * K * d);
    const std::vector<int32_t> experts = busiest_first(act.offsets);
    parallel_tasks(ctx.pool, N, [&](int64_t task) {
      const int32_t e = experts[task];
      const int64_t begin = act.offsets[e], rows = act.offsets[e + 1] - begin;
      if (rows == 0) return;
      T* xs = act.xs.data() + begin * d;
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(x + (act.order[begin + r] / K) * d, d, xs + r * d);
      }
      mlp_forward<T>(nullptr, w.experts[e], d, xs, rows,
                     {.gate_up = act.gate_up.data() + begin * 2 * inter,
                      .act = act.act.data() + begin * inter},
                     act.ys.data() + begin * d);
    });
  }

  ProfileScope p(ctx.profile, "moe combine");
  parallel_for(ctx.pool, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      T* o = out + t * d;
      for (int64_t j = 0; j < K; ++j) {
        const T* y = act.ys.data() + int64_t(act.row_of[t * K + j]) * d;
        axpy(act.router.weights[t * K + j], y, o, d);
      }
    }
  });
  return balance;
}

template <typename T>
void moe_backward(const TrainContext& ctx, const MoeBackward<T>& a) {
  const ModelConfig& c = *ctx.config;
  const MoeActivations<T>& act = *a.act;
  const int64_t n = ctx.tokens(), d = c.hidden_size, N = c.n_routed_experts;
  const int64_t K = c.num_experts_per_tok, inter = c.moe_intermediate_size;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);

  if (a.w->has_shared) {
    ProfileScope p(ctx.profile, "shared expert bwd");
    T* work = scratch<T>(arena, n * 2 * a.w->shared.inter);
    mlp_backward<T>(ctx.pool, {.w = &a.w->shared, .grad = &a.grad->shared, .hidden = d,
                               .rows = n, .x = a.x, .gate_up = act.shared_gate_up.data(),
                               .act = act.shared_act.data(), .dy = a.dout, .dx = a.dx,
                               .work = work});
  } else {
    std::fill_n(a.dx, n * d, T(0));
  }

  // Per choice: d weight = dout . y, d y = weight * dout (into the sorted rows).
  T* dweights = scratch<T>(arena, n * K);
  T* dys = scratch<T>(arena, n * K * d);
  {
    ProfileScope p(ctx.profile, "moe combine");
    parallel_for(ctx.pool, n, 64, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const T* g = a.dout + t * d;
        for (int64_t j = 0; j < K; ++j) {
          const int64_t row = act.row_of[t * K + j];
          const T* y = act.ys.data() + row * d;
          T* dy = dys + row * d;
          const T wt = act.router.weights[t * K + j];
          for (int64_t i = 0; i < d; ++i) dy[i] = wt * g[i];
          dweights[t * K + j] = dot(g, y, d);
        }
      }
    });
  }

  T* dxs = scratch<T>(arena, n * K * d);
  T* work = scratch<T>(arena, n * K * 2 * inter);
  {
    ProfileScope p(ctx.profile, "routed experts bwd", 12.0 * double(n * K * d * inter));
    const std::vector<int32_t> experts = busiest_first(act.offsets);
    parallel_tasks(ctx.pool, N, [&](int64_t task) {
      const int32_t e = experts[task];
      const int64_t begin = act.offsets[e], rows = act.offsets[e + 1] - begin;
      if (rows == 0) return;
      mlp_backward<T>(nullptr, {.w = &a.w->experts[e], .grad = &a.grad->experts[e], .hidden = d,
                                .rows = rows, .x = act.xs.data() + begin * d,
                                .gate_up = act.gate_up.data() + begin * 2 * inter,
                                .act = act.act.data() + begin * inter, .dy = dys + begin * d,
                                .dx = dxs + begin * d, .work = work + begin * 2 * inter});
    });
  }

  {
    ProfileScope p(ctx.profile, "moe combine");
    parallel_for(ctx.pool, n, 64, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        T* dx = a.dx + t * d;
        for (int64_t j = 0; j < K; ++j) {
          axpy(T(1), dxs + int64_t(act.row_of[t * K + j]) * d, dx, d);
        }
      }
    });
  }

  ProfileScope p(ctx.profile, "router bwd");
  router_backward<T>(ctx, {.gate_w = a.w->gate, .gate_grad = a.grad->gate, .x = a.x,
                           .act = &act.router, .dweights = dweights,
                           .balance_alpha = a.balance_alpha, .dx = a.dx});
}

template double moe_forward(const TrainContext&, const MoeParams<float>&, const float*, double,
                            const float*, MoeActivations<float>&, float*);
template double moe_forward(const TrainContext&, const MoeParams<double>&, const float*, double,
                            const double*, MoeActivations<double>&, double*);
template void moe_backward(const TrainContext&, const MoeBackward<float>&);
template void moe_backward(const TrainContext&, const MoeBackward<double>&);

}  // namespace dsv3::train
