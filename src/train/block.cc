#include "train/block.h"

#include <algorithm>

#include "train/norm.h"

namespace dsv3::train {

namespace {

template <typename T>
void add(ThreadPool* pool, const T* a, const T* b, int64_t n, T* out) {
  parallel_for(pool, n, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
  });
}

}  // namespace

template <typename T>
double block_forward(const TrainContext& ctx, const BlockParams<T>& w, const float* bias,
                     double balance_alpha, const T* x_in, BlockActivations<T>& act, T* x_out) {
  const int64_t n = ctx.tokens(), d = ctx.config->hidden_size;
  act.h1.resize(n * d);
  act.rstd1.resize(n);
  act.x_mid.resize(n * d);
  act.h2.resize(n * d);
  act.rstd2.resize(n);
  {
    ProfileScope p(ctx.profile, "norms+residual");
    rmsnorm_forward(ctx, x_in, w.attn_norm, n, d, act.h1.data(), act.rstd1.data());
  }
  {
    ProfileScope p(ctx.profile, "attention fwd");
    mla_forward(ctx, w.attn, act.h1.data(), act.mla, x_out);  // x_out as scratch
  }
  {
    ProfileScope p(ctx.profile, "norms+residual");
    add(ctx.pool, x_in, x_out, n * d, act.x_mid.data());
    rmsnorm_forward(ctx, act.x_mid.data(), w.ffn_norm, n, d, act.h2.data(), act.rstd2.data());
  }
  double balance = 0;
  if (w.is_moe) {
    balance = moe_forward(ctx, w.moe, bias, balance_alpha, act.h2.data(), act.moe, x_out);
  } else {
    ProfileScope p(ctx.profile, "dense ffn fwd");
    act.mlp_gate_up.resize(n * 2 * w.mlp.inter);
    act.mlp_act.resize(n * w.mlp.inter);
    mlp_forward(ctx.pool, w.mlp, d, act.h2.data(), n,
                {.gate_up = act.mlp_gate_up.data(), .act = act.mlp_act.data()}, x_out);
  }
  ProfileScope p(ctx.profile, "norms+residual");
  add(ctx.pool, act.x_mid.data(), x_out, n * d, x_out);
  return balance;
}

template <typename T>
void block_backward(const TrainContext& ctx, const BlockBackward<T>& a) {
  const int64_t n = ctx.tokens(), d = ctx.config->hidden_size;
  const BlockActivations<T>& act = *a.act;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  T* dmid = scratch<T>(arena, n * d);  // gradient of x_mid
  T* dh = scratch<T>(arena, n * d);
  if (a.w->is_moe) {
    moe_backward<T>(ctx, {.w = &a.w->moe, .grad = &a.grad->moe, .x = act.h2.data(),
                          .act = &act.moe, .balance_alpha = a.balance_alpha, .dout = a.dx_out,
                          .dx = dh});
  } else {
    ProfileScope p(ctx.profile, "dense ffn bwd");
    T* work = scratch<T>(arena, n * 2 * a.w->mlp.inter);
    mlp_backward<T>(ctx.pool, {.w = &a.w->mlp, .grad = &a.grad->mlp, .hidden = d, .rows = n,
                               .x = act.h2.data(), .gate_up = act.mlp_gate_up.data(),
                               .act = act.mlp_act.data(), .dy = a.dx_out, .dx = dh,
                               .work = work});
  }
  {
    ProfileScope p(ctx.profile, "norms+residual");
    std::copy_n(a.dx_out, n * d, dmid);
    rmsnorm_backward<T>(ctx, {.x = act.x_mid.data(), .w = a.w->ffn_norm,
                              .rstd = act.rstd2.data(), .dy = dh, .rows = n, .n = d, .dx = dmid,
                              .accumulate_dx = true, .dw = a.grad->ffn_norm});
  }
  {
    ProfileScope p(ctx.profile, "attention bwd");
    mla_backward<T>(ctx, {.w = &a.w->attn, .grad = &a.grad->attn, .x = act.h1.data(),
                          .act = &act.mla, .dout = dmid, .dx = dh});
  }
  ProfileScope p(ctx.profile, "norms+residual");
  std::copy_n(dmid, n * d, a.dx_in);
  rmsnorm_backward<T>(ctx, {.x = a.x_in, .w = a.w->attn_norm, .rstd = act.rstd1.data(),
                            .dy = dh, .rows = n, .n = d, .dx = a.dx_in, .accumulate_dx = true,
                            .dw = a.grad->attn_norm});
}

template double block_forward(const TrainContext&, const BlockParams<float>&, const float*,
                              double, const float*, BlockActivations<float>&, float*);
template double block_forward(const TrainContext&, const BlockParams<double>&, const float*,
                              double, const double*, BlockActivations<double>&, double*);
template void block_backward(const TrainContext&, const BlockBackward<float>&);
template void block_backward(const TrainContext&, const BlockBackward<double>&);

}  // namespace dsv3::train
