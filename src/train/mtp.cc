#include "train/mtp.h"

#include <algorithm>
#include <optional>

#include "train/embedding.h"
#include "train/linear.h"
#include "train/norm.h"

namespace dsv3::train {

template <typename T>
double mtp_forward(const TrainContext& ctx, const MtpParams<T>& w, const T* embed,
                   const MtpInputs& in, const T* h, MtpActivations<T>& act) {
  const int64_t n = ctx.tokens(), d = ctx.config->hidden_size;
  act.tokens.assign(in.tokens, in.tokens + n);
  act.emb.resize(n * d);
  act.cat.resize(n * 2 * d);
  act.e_rstd.resize(n);
  act.h_rstd.resize(n);
  act.x.resize(n * d);
  act.y.resize(n * d);
  act.y_rstd.resize(n);
  act.yn.resize(n * d);
  std::optional<ProfileScope> p(std::in_place, ctx.profile, "mtp input+output");
  embedding_forward(ctx, embed, in.tokens, n, d, act.emb.data());
  Arena::Mark mark(*ctx.arena);
  T* part = scratch<T>(*ctx.arena, n * d);
  rmsnorm_forward(ctx, act.emb.data(), w.enorm, n, d, part, act.e_rstd.data());
  for (int64_t t = 0; t < n; ++t) std::copy_n(part + t * d, d, act.cat.data() + t * 2 * d);
  rmsnorm_forward(ctx, h, w.hnorm, n, d, part, act.h_rstd.data());
  for (int64_t t = 0; t < n; ++t) std::copy_n(part + t * d, d, act.cat.data() + t * 2 * d + d);
  linear_forward(ctx.pool, {n, 2 * d, d}, act.cat.data(), w.eh_proj, act.x.data());
  p.reset();
  const double balance = block_forward(ctx, w.block, in.bias, in.balance_alpha, act.x.data(),
                                       act.block, act.y.data());
  p.emplace(ctx.profile, "mtp input+output");
  rmsnorm_forward(ctx, act.y.data(), w.head_norm, n, d, act.yn.data(), act.y_rstd.data());
  return balance;
}

template <typename T>
void mtp_backward(const TrainContext& ctx, const MtpBackward<T>& a) {
  const int64_t n = ctx.tokens(), d = ctx.config->hidden_size;
  const MtpActivations<T>& act = *a.act;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  std::optional<ProfileScope> p(std::in_place, ctx.profile, "mtp input+output");
  T* dy = a.dyn;
  rmsnorm_backward<T>(ctx, {.x = act.y.data(), .w = a.w->head_norm, .rstd = act.y_rstd.data(),
                            .dy = a.dyn, .rows = n, .n = d, .dx = dy, .dw = a.grad->head_norm});
  T* dx = scratch<T>(arena, n * d);
  p.reset();
  block_backward<T>(ctx, {.w = &a.w->block, .grad = &a.grad->block, .x_in = act.x.data(),
                          .act = &act.block, .balance_alpha = a.balance_alpha, .dx_out = dy,
                          .dx_in = dx});
  p.emplace(ctx.profile, "mtp input+output");
  T* dcat = scratch<T>(arena, n * 2 * d);
  linear_backward<T>(ctx.pool, {.shape = {n, 2 * d, d}, .x = act.cat.data(), .w = a.w->eh_proj,
                                .dy = dx, .dx = dcat, .dw = a.grad->eh_proj});
  T* de = scratch<T>(arena, n * d);
  T* dhn = scratch<T>(arena, n * d);
  for (int64_t t = 0; t < n; ++t) {
    std::copy_n(dcat + t * 2 * d, d, de + t * d);
    std::copy_n(dcat + t * 2 * d + d, d, dhn + t * d);
  }
  rmsnorm_backward<T>(ctx, {.x = act.emb.data(), .w = a.w->enorm, .rstd = act.e_rstd.data(),
                            .dy = de, .rows = n, .n = d, .dx = de, .dw = a.grad->enorm});
  embedding_backward(ctx, act.tokens.data(), de, n, d, a.embed_grad);
  rmsnorm_backward<T>(ctx, {.x = a.h, .w = a.w->hnorm, .rstd = act.h_rstd.data(), .dy = dhn,
                            .rows = n, .n = d, .dx = a.dh, .accumulate_dx = true,
                            .dw = a.grad->hnorm});
}

template double mtp_forward(const TrainContext&, const MtpParams<float>&, const float*,
                            const MtpInputs&, const float*, MtpActivations<float>&);
template double mtp_forward(const TrainContext&, const MtpParams<double>&, const double*,
                            const MtpInputs&, const double*, MtpActivations<double>&);
template void mtp_backward(const TrainContext&, const MtpBackward<float>&);
template void mtp_backward(const TrainContext&, const MtpBackward<double>&);

}  // namespace dsv3::train
