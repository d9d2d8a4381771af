// The training forward against the inference engine: a training model saved with save_model
// loads with Model::load and gives the same logits (main and MTP, naive and absorbed MLA),
// which is what makes trained checkpoints usable by `dsv3 generate`.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "micro_model.h"
#include "model/transformer.h"
#include "train/checkpoint.h"
#include "train/linear.h"
#include "train/transformer.h"

namespace dsv3::train {
namespace {

using testing::micro_config;
using testing::MicroModel;
using testing::random_tokens;

// Different summation orders of the two engines' float32 products.
constexpr double kLogitTolerance = 1e-4;

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dsv3_train_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// Logits of the training model's main head and MTP head for one window of tokens.
struct TrainLogits {
  std::vector<float> main, mtp;  // [S, vocab] each
};

TrainLogits train_logits(MicroModel<float>& m, const std::vector<int32_t>& window) {
  ModelActivations<float> act;
  model_forward_backward(m.ctx, m.w, m.bias, window.data(), LossOptions{}, act,
                         static_cast<ModelParams<float>*>(nullptr));
  const int64_t S = m.ctx.seq, V = m.config.vocab_size, d = m.config.hidden_size;
  TrainLogits out{std::vector<float>(S * V), std::vector<float>(S * V)};
  linear_forward(&m.pool, {S, d, V}, act.hn.data(), m.w.head, out.main.data());
  linear_forward(&m.pool, {S, d, V}, act.mtp[0].yn.data(), m.w.head, out.mtp.data());
  return out;
}

void expect_close(const float* a, const float* b, int64_t n, double tol, const char* what) {
  double worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::abs(double(a[i]) - double(b[i])) > worst) {
      worst = std::abs(double(a[i]) - double(b[i]));
      at = i;
    }
  }
  EXPECT_LE(worst, tol) << what << ": worst difference at " << at << ": " << a[at] << " vs "
                        << b[at];
}

void check_against_inference(MicroModel<float>& m, DType dtype, double tol) {
  const int64_t S = m.ctx.seq, V = m.config.vocab_size, d = m.config.hidden_size;
  const std::vector<int32_t> window =
      random_tokens(window_length(m.config, S), m.config.vocab_size, 5);
  const std::string dir = temp_dir(dtype == DType::kF32 ? "f32" : "bf16");
  ASSERT_TRUE(save_model(dir, {&m.config, &m.layout, &m.bias}, m.values.data(), dtype).ok());
  if (dtype == DType::kBF16) {  // compare against the weights the file holds
    for (float& v : m.values) v = bf16_to_f32(f32_to_bf16(v));
  }
  m.ctx.attention_block = 5;  // three causal blocks over the 12 positions
  const TrainLogits expected = train_logits(m, window);

  Result<std::unique_ptr<Model>> model = Model::load(dir, {.max_positions = S});
  ASSERT_TRUE(model.ok()) << model.error().message;
  ASSERT_EQ((*model)->mtp_depth(), 1);
  for (AttentionImpl impl : {AttentionImpl::kNaive, AttentionImpl::kAbsorbed}) {
    KvCache cache = (*model)->new_cache(S);
    Arena arena;
    std::vector<float> logits(S * V), hidden(S * d), mtp_logits((S - 1) * V);
    (*model)->forward({.tokens = std::span(window).first(S), .cache = &cache, .arena = &arena,
                       .hidden_out = hidden.data(), .logits_out = logits.data(),
                       .attention = impl});
    expect_close(logits.data(), expected.main.data(), S * V, tol, "main logits");
    KvCache mtp_cache = (*model)->new_mtp_cache(S);
    (*model)->mtp_forward({.tokens = std::span(window).subspan(1, S - 1), .hidden = hidden.data(),
                           .cache = &mtp_cache, .arena = &arena,
                           .logits_out = mtp_logits.data(), .attention = impl});
    // MTP slot i reads t_{i+1}; the training window has one slot more (it also knows t_S).
    expect_close(mtp_logits.data(), expected.mtp.data(), (S - 1) * V, tol, "MTP logits");
  }
  std::filesystem::remove_all(dir);
}

TEST(InferenceMatch, Float32Checkpoint) {
  MicroModel<float> m(micro_config(), 1, 12, 0.1, 11);
  check_against_inference(m, DType::kF32, kLogitTolerance);
}

TEST(InferenceMatch, BFloat16Checkpoint) {
  MicroModel<float> m(micro_config(), 1, 12, 0.1, 12);
  check_against_inference(m, DType::kBF16, kLogitTolerance);
}

TEST(InferenceMatch, WithoutQueryCompression) {
  MicroModel<float> m(micro_config(1, 0), 1, 12, 0.1, 13);
  check_against_inference(m, DType::kF32, kLogitTolerance);
}

TEST(InferenceMatch, LoadModelRoundTrip) {
  MicroModel<float> m(micro_config(), 1, 8, 0.1, 14);
  const std::string dir = temp_dir("roundtrip");
  ASSERT_TRUE(save_model(dir, {&m.config, &m.layout, &m.bias}, m.values.data()).ok());
  std::vector<float> values(m.layout.total, 0.0f);
  RouterBiases bias;
  const Status s = load_model(dir, {&m.config, &m.layout, &m.bias}, values.data(), bias);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(values, m.values);
  EXPECT_EQ(bias, m.bias);
  std::filesystem::remove_all(dir);
}

// The float trainer (sgemm) and the double one (dgemm) that the gradient checks validate
// compute the same losses and gradients.
TEST(FloatPrecision, MatchesDouble) {
  const ModelConfig c = micro_config();
  MicroModel<float> f(c, 2, 8, 0.1, 21);
  MicroModel<double> d(c, 2, 8, 0.1, 21);
  const std::vector<int32_t> windows = random_tokens(2 * window_length(c, 8), c.vocab_size, 22);
  const LossOptions opt{.mtp_weight = 0.3, .balance_alpha = 0.01};
  ModelActivations<float> fa;
  ModelActivations<double> da;
  const LossReport rf = model_forward_backward(f.ctx, f.w, f.bias, windows.data(), opt, fa, &f.g);
  const LossReport rd = model_forward_backward(d.ctx, d.w, d.bias, windows.data(), opt, da, &d.g);
  EXPECT_NEAR(rf.total, rd.total, 1e-5 * std::abs(rd.total));
  double max_grad = 0, worst = 0;
  for (int64_t i = 0; i < f.layout.total; ++i) {
    max_grad = std::max(max_grad, std::abs(d.grads[i]));
    worst = std::max(worst, std::abs(double(f.grads[i]) - d.grads[i]));
  }
  EXPECT_LE(worst, 1e-4 * max_grad);
}

}  // namespace
}  // namespace dsv3::train

namespace dsv3::train {
namespace {

int32_t argmax_row(const std::vector<float>& logits, int64_t row, int64_t vocab) {
  const float* z = logits.data() + row * vocab;
  return int32_t(std::max_element(z, z + vocab) - z);
}

// --mtp-target main-model: MTP slot i learns the main model's greedy choice at slot i + 1
// (the last slot, whose partner lies past the window, keeps the text's token), and the
// measured agreement is the share of slots where the two heads' argmaxes meet.
TEST(DraftTargets, MtpLearnsTheMainModelsGreedyChoices) {
  MicroModel<float> m(micro_config(), 1, 12, 0.3, 31);
  const int64_t S = m.ctx.seq, V = m.config.vocab_size;
  const std::vector<int32_t> window = random_tokens(window_length(m.config, S), V, 32);
  const TrainLogits logits = train_logits(m, window);

  ModelActivations<float> act;
  const LossReport r = model_forward_backward(
      m.ctx, m.w, m.bias, window.data(), {.mtp_learns_main_model = true, .measure_agreement = true},
      act, static_cast<ModelParams<float>*>(nullptr));
  ASSERT_EQ(act.mtp_targets.size(), 1u);
  int64_t agree = 0;
  for (int64_t i = 0; i + 1 < S; ++i) {
    const int32_t main_choice = argmax_row(logits.main, i + 1, V);
    EXPECT_EQ(act.mtp_targets[0][i], main_choice) << "slot " << i;
    agree += argmax_row(logits.mtp, i, V) == main_choice;
  }
  EXPECT_EQ(act.mtp_targets[0][S - 1], window[S + 1]);
  ASSERT_EQ(r.mtp_agreement.size(), 1u);
  EXPECT_DOUBLE_EQ(r.mtp_agreement[0], double(agree) / double(S - 1));

  // Learning from the text, the targets are the window's tokens after next.
  const LossReport text = model_forward_backward(m.ctx, m.w, m.bias, window.data(), LossOptions{},
                                                 act, static_cast<ModelParams<float>*>(nullptr));
  for (int64_t i = 0; i < S; ++i) EXPECT_EQ(act.mtp_targets[0][i], window[i + 2]);
  EXPECT_TRUE(text.mtp_agreement.empty());
  EXPECT_EQ(text.main, r.main);
}

}  // namespace
}  // namespace dsv3::train
