#include "train/transformer.h"

#include <algorithm>

#include "train/embedding.h"
#include "train/loss.h"
#include "train/norm.h"

namespace dsv3::train {

namespace {

const float* bias_of(const RouterBiases& bias, int64_t layer) {
  return layer < int64_t(bias.size()) && !bias[layer].empty() ? bias[layer].data() : nullptr;
}

// Cuts the windows into the main model's inputs and targets and, per MTP depth k (1-based),
// the embedded tokens t_{i+k} and targets t_{i+k+1}. Returns the MTP tokens [D][T].
template <typename T>
std::vector<std::vector<int32_t>> split_windows(const TrainContext& ctx, const int32_t* windows,
                                                ModelActivations<T>& act) {
  const int64_t B = ctx.batch, S = ctx.seq, n = ctx.tokens();
  const int64_t D = ctx.config->num_nextn_predict_layers, W = window_length(*ctx.config, S);
  act.inputs.resize(n);
  act.targets.resize(n);
  act.mtp_targets.resize(D);
  std::vector<std::vector<int32_t>> mtp_tokens(D, std::vector<int32_t>(n));
  for (auto& t : act.mtp_targets) t.resize(n);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < S; ++i) {
      const int32_t* win = windows + b * W + i;
      act.inputs[b * S + i] = win[0];
      act.targets[b * S + i] = win[1];
      for (int64_t k = 0; k < D; ++k) {
        mtp_tokens[k][b * S + i] = win[k + 1];
        act.mtp_targets[k][b * S + i] = win[k + 2];
      }
    }
  }
  return mtp_tokens;
}

// MTP depth k (0-based) at position i drafts the token the main model predicts at position
// i + k + 1 of the same window; positions whose partner lies past the window have none.
int64_t positions_with_partner(const TrainContext& ctx, int64_t k) {
  return std::max<int64_t>(ctx.seq - k - 1, 0);
}

// Gives MTP depth k the main model's greedy choices as targets where they exist.
void target_main_model_choices(const TrainContext& ctx, const std::vector<int32_t>& main_choice,
                               int64_t k, std::vector<int32_t>& targets) {
  const int64_t S = ctx.seq;
  for (int64_t b = 0; b < ctx.batch; ++b) {
    for (int64_t i = 0; i < positions_with_partner(ctx, k); ++i) {
      targets[b * S + i] = main_choice[b * S + i + k + 1];
    }
  }
}

// Share of positions where MTP depth k's most likely token is the main model's.
double draft_agreement(const TrainContext& ctx, const std::vector<int32_t>& main_choice,
                       const std::vector<int32_t>& mtp_choice, int64_t k) {
  const int64_t S = ctx.seq, per_window = positions_with_partner(ctx, k);
  int64_t same = 0;
  for (int64_t b = 0; b < ctx.batch; ++b) {
    for (int64_t i = 0; i < per_window; ++i) {
      same += mtp_choice[b * S + i] == main_choice[b * S + i + k + 1];
    }
  }
  return per_window > 0 ? double(same) / double(ctx.batch * per_window) : 0.0;
}

// Embedding, decoder layers and model.norm (act.hn); adds the routers' balance losses and
// loads to the report.
template <typename T>
void trunk_forward(const TrainContext& ctx, const ModelParams<T>& w, const RouterBiases& bias,
                   double balance_alpha, ModelActivations<T>& act, LossReport& report) {
  const int64_t n = ctx.tokens(), d = ctx.config->hidden_size;
  const int64_t L = ctx.config->num_hidden_layers;
  act.resid.resize(L + 1);
  for (auto& r : act.resid) r.resize(n * d);
  act.blocks.resize(L);
  {
    ProfileScope p(ctx.profile, "embedding");
    embedding_forward(ctx, w.embed, act.inputs.data(), n, d, act.resid[0].data());
  }
  for (int64_t l = 0; l < L; ++l) {
    report.balance += block_forward(ctx, w.layers[l], bias_of(bias, l), balance_alpha,
                                    act.resid[l].data(), act.blocks[l], act.resid[l + 1].data());
    if (w.layers[l].is_moe) report.loads[l] = act.blocks[l].moe.router.load;
  }
  act.hn.resize(n * d);
  act.hn_rstd.resize(n);
  ProfileScope p(ctx.profile, "norms+residual");
  rmsnorm_forward(ctx, act.resid[L].data(), w.norm, n, d, act.hn.data(), act.hn_rstd.data());
}

// From the gradient of act.hn (dhn) back to the embedding.
template <typename T>
void trunk_backward(const TrainContext& ctx, const ModelParams<T>& w, ModelParams<T>& grad,
                    double balance_grad, const ModelActivations<T>& act, const T* dhn) {
  const int64_t n = ctx.tokens(), d = ctx.config->hidden_size;
  const int64_t L = ctx.config->num_hidden_layers;
  Arena::Mark mark(*ctx.arena);
  T* dx = scratch<T>(*ctx.arena, n * d);
  {
    ProfileScope p(ctx.profile, "norms+residual");
    rmsnorm_backward<T>(ctx, {.x = act.resid[L].data(), .w = w.norm, .rstd = act.hn_rstd.data(),
                              .dy = dhn, .rows = n, .n = d, .dx = dx, .dw = grad.norm});
  }
  for (int64_t l = L - 1; l >= 0; --l) {
    block_backward<T>(ctx, {.w = &w.layers[l], .grad = &grad.layers[l],
                            .x_in = act.resid[l].data(), .act = &act.blocks[l],
                            .balance_alpha = balance_grad, .dx_out = dx, .dx_in = dx});
  }
  ProfileScope p(ctx.profile, "embedding");
  embedding_backward(ctx, act.inputs.data(), dx, n, d, grad.embed);
}

}  // namespace

template <typename T>
LossReport model_forward_backward(const TrainContext& ctx, const ModelParams<T>& w,
                                  const RouterBiases& bias, const int32_t* windows,
                                  const LossOptions& opt, ModelActivations<T>& act,
                                  ModelParams<T>* grad) {
  const ModelConfig& c = *ctx.config;
  const int64_t n = ctx.tokens(), d = c.hidden_size;
  const int64_t L = c.num_hidden_layers, D = c.num_nextn_predict_layers;
  LossReport report;
  report.loads.resize(L + D);
  const std::vector<std::vector<int32_t>> mtp_tokens = split_windows(ctx, windows, act);
  trunk_forward(ctx, w, bias, opt.balance_alpha, act, report);

  // Mean cross-entropy of the head on h; its backward (scaled by `weight`) when training.
  auto head_loss = [&](const T* h, const int32_t* targets, double weight, T* dh,
                       int32_t* predicted) {
    ProfileScope p(ctx.profile, "head+cross-entropy",
                   (grad ? 6.0 : 2.0) * double(n * d * c.vocab_size));
    return head_cross_entropy<T>(ctx, {.h = h, .head = w.head, .targets = targets, .rows = n,
                                       .predicted = predicted,
                                       .grad_scale = T(opt.grad_scale * weight / double(n)),
                                       .dh = dh, .dhead = grad ? grad->head : nullptr}) /
           double(n);
  };
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  T* dhn = grad ? scratch<T>(arena, n * d) : nullptr;
  const bool main_choices = opt.mtp_learns_main_model || opt.measure_agreement;
  std::vector<int32_t> main_choice(main_choices ? n : 0);
  std::vector<int32_t> mtp_choice(opt.measure_agreement ? n : 0);
  report.main = head_loss(act.hn.data(), act.targets.data(), 1.0, dhn,
                          main_choices ? main_choice.data() : nullptr);
  report.total = report.main;

  // MTP depths in order, each reading the previous one's normed output.
  act.mtp.resize(D);
  std::vector<T*> dyn(D, nullptr);
  const double weight = opt.mtp_weight / double(std::max<int64_t>(D, 1));
  for (int64_t k = 0; k < D; ++k) {
    MtpActivations<T>& m = act.mtp[k];
    const T* h = k == 0 ? act.hn.data() : act.mtp[k - 1].yn.data();
    report.balance += mtp_forward(ctx, w.mtp[k], w.embed,
                                  {.tokens = mtp_tokens[k].data(), .bias = bias_of(bias, L + k),
                                   .balance_alpha = opt.balance_alpha},
                                  h, m);
    report.loads[L + k] = m.block.moe.router.load;
    if (grad) dyn[k] = scratch<T>(arena, n * d);
    if (opt.mtp_learns_main_model) target_main_model_choices(ctx, main_choice, k, act.mtp_targets[k]);
    report.mtp.push_back(head_loss(m.yn.data(), act.mtp_targets[k].data(), weight, dyn[k],
                                   opt.measure_agreement ? mtp_choice.data() : nullptr));
    if (opt.measure_agreement) {
      report.mtp_agreement.push_back(draft_agreement(ctx, main_choice, mtp_choice, k));
    }
    report.total += weight * report.mtp.back();
  }
  report.total += report.balance;
  if (!grad) return report;

  // Backward: MTP depths last first (each hands its hidden-state gradient to the one before,
  // depth 1 to model.norm's output), then the trunk.
  const double balance_grad = opt.balance_alpha * opt.grad_scale;
  for (int64_t k = D - 1; k >= 0; --k) {
    mtp_backward<T>(ctx, {.w = &w.mtp[k], .grad = &grad->mtp[k], .embed_grad = grad->embed,
                          .h = k == 0 ? act.hn.data() : act.mtp[k - 1].yn.data(),
                          .act = &act.mtp[k], .balance_alpha = balance_grad, .dyn = dyn[k],
                          .dh = k == 0 ? dhn : dyn[k - 1]});
  }
  trunk_backward(ctx, w, *grad, balance_grad, act, dhn);
  return report;
}

template LossReport model_forward_backward(const TrainContext&, const ModelParams<float>&,
                                           const RouterBiases&, const int32_t*,
                                           const LossOptions&, ModelActivations<float>&,
                                           ModelParams<float>*);
template LossReport model_forward_backward(const TrainContext&, const ModelParams<double>&,
                                           const RouterBiases&, const int32_t*,
                                           const LossOptions&, ModelActivations<double>&,
                                           ModelParams<double>*);

}  // namespace dsv3::train
