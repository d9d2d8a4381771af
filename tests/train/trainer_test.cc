// The training loop: exact resume, loss going down end to end, and the pieces around it
// (bias update, MaxVio, schedule, AdamW, token files).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "micro_model.h"
#include "train/checkpoint_run.h"
#include "train/trainer.h"

namespace dsv3::train {
namespace {

using testing::micro_config;
using testing::random_tokens;

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dsv3_trainer_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

TrainOptions small_run(int64_t steps) {
  TrainOptions o;
  o.steps = steps;
  o.batch = 2;
  o.seq = 8;
  o.accumulation = 2;
  o.lr = 1e-2;
  o.min_lr = 1e-3;
  o.warmup = 2;
  o.decay_start = 0.5;
  o.init_std = 0.05;
  o.bias_update_speed = 0.01;
  o.seed = 5;
  return o;
}

// N steps straight and N/2 + save + resume + N/2 give bit-identical weights and biases.
TEST(Trainer, ResumeIsExact) {
  const ModelConfig c = micro_config();
  const std::vector<int32_t> tokens = random_tokens(3000, c.vocab_size, 1);
  const int64_t N = 8;
  auto straight = Trainer::create(c, small_run(N), tokens);
  ASSERT_TRUE(straight.ok()) << straight.error().message;
  (*straight)->step();
  EXPECT_NE((*straight)->biases()[1], std::vector<float>(c.n_routed_experts, 0.0f))
      << "aux-free balancing should have moved the bias";
  for (int64_t i = 1; i < N; ++i) (*straight)->step();

  const std::string dir = temp_dir("resume");
  {
    auto first = Trainer::create(c, small_run(N), tokens);
    ASSERT_TRUE(first.ok());
    for (int64_t i = 0; i < N / 2; ++i) (*first)->step();
    const Status s = (*first)->save(dir);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  auto second = Trainer::resume(dir, tokens, /*steps=*/0, /*threads=*/0);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ((*second)->steps_done(), N / 2);
  for (int64_t i = N / 2; i < N; ++i) (*second)->step();

  EXPECT_EQ((*second)->steps_done(), N);
  EXPECT_TRUE((*second)->params() == (*straight)->params()) << "weights differ after resume";
  EXPECT_TRUE((*second)->biases() == (*straight)->biases()) << "router biases differ";
  std::filesystem::remove_all(dir);
}

// --freeze-main-model: the MTP layer learns; the main model's weights and router biases do
// not move by a bit.
TEST(Trainer, FrozenMainModelKeepsItsWeightsAndBiases) {
  const ModelConfig c = micro_config();
  const std::vector<int32_t> tokens = random_tokens(3000, c.vocab_size, 3);
  TrainOptions o = small_run(4);
  o.freeze_main_model = true;
  o.mtp_learns_main_model = true;
  auto t = Trainer::create(c, o, tokens);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const std::vector<float> before = (*t)->params();
  const auto biases_before = (*t)->biases();
  const int64_t L = c.num_hidden_layers;
  (*t)->step();
  EXPECT_NE((*t)->biases()[L], biases_before[L]) << "the MTP router's bias should still steer";
  for (int i = 1; i < 4; ++i) (*t)->step();
  const int64_t mtp = make_layout(c).mtp_offset(c);
  ASSERT_GT(mtp, 0);
  ASSERT_LT(mtp, int64_t(before.size()));
  const std::vector<float>& after = (*t)->params();
  EXPECT_TRUE(std::equal(before.begin(), before.begin() + mtp, after.begin()))
      << "a main-model weight moved";
  EXPECT_FALSE(std::equal(before.begin() + mtp, before.end(), after.begin() + mtp))
      << "the MTP layer did not learn";
  for (int64_t l = 0; l < L; ++l) EXPECT_EQ((*t)->biases()[l], biases_before[l]) << "layer " << l;

  // A model without MTP layers has nothing to train.
  auto none = Trainer::create(micro_config(/*mtp_layers=*/0), o, tokens);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("num_nextn_predict_layers is 0"), std::string::npos);
}

// The same seed gives the same weights whatever the number of threads: every parallel split
// either keeps each output's summation order or sums fixed partials in a fixed order.
TEST(Trainer, ThreadCountDoesNotChangeResults) {
  const ModelConfig c = micro_config();
  const std::vector<int32_t> tokens = random_tokens(3000, c.vocab_size, 9);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    TrainOptions o = small_run(3);
    o.threads = threads;
    o.batch = 4;
    o.seq = 40;  // several causal blocks and products large enough to be split
    auto t = Trainer::create(c, o, tokens);
    ASSERT_TRUE(t.ok());
    for (int i = 0; i < 3; ++i) (*t)->step();
    results.push_back((*t)->params());
  }
  EXPECT_TRUE(results[0] == results[1]) << "1 vs 2 threads";
  EXPECT_TRUE(results[0] == results[2]) << "1 vs 3 threads";
}

// A torn save (weights of one step, optimizer state of another) is refused.
TEST(Trainer, ResumeRefusesMismatchedFiles) {
  const ModelConfig c = micro_config();
  const std::vector<int32_t> tokens = random_tokens(3000, c.vocab_size, 2);
  const std::string a = temp_dir("torn_a"), b = temp_dir("torn_b");
  auto t = Trainer::create(c, small_run(4), tokens);
  ASSERT_TRUE(t.ok());
  (*t)->step();
  ASSERT_TRUE((*t)->save(a).ok());
  (*t)->step();
  ASSERT_TRUE((*t)->save(b).ok());
  std::filesystem::copy_file(std::filesystem::path(checkpoint_files_dir(a)) / "optimizer.safetensors",
                             std::filesystem::path(checkpoint_files_dir(b)) / "optimizer.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  auto r = Trainer::resume(b, tokens, 0, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("do not belong"), std::string::npos) << r.error().message;
  // Other data than the run's is refused too.
  auto other = Trainer::resume(a, random_tokens(3000, c.vocab_size, 99), 0, 0);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("other data"), std::string::npos)
      << other.error().message;
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

// End to end: on a repetitive token stream the next-token and MTP losses fall clearly within
// a few seconds of training.
TEST(Trainer, LossGoesDownOnRepetitiveStream) {
  const ModelConfig c = micro_config();
  const std::vector<int32_t> pattern = random_tokens(11, c.vocab_size, 3);
  std::vector<int32_t> tokens;
  while (tokens.size() < 4000) tokens.insert(tokens.end(), pattern.begin(), pattern.end());
  TrainOptions o = small_run(80);
  o.accumulation = 1;
  o.batch = 4;
  o.seq = 16;
  o.lr = 2e-2;
  o.warmup = 5;
  o.init_std = 0.02;
  auto t = Trainer::create(c, o, tokens);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const StepMetrics first = (*t)->step();
  StepMetrics last;
  for (int64_t i = 1; i < o.steps; ++i) last = (*t)->step();
  EXPECT_NEAR(first.main_loss, std::log(double(c.vocab_size)), 0.3);
  EXPECT_LT(last.main_loss, 0.25 * first.main_loss) << "main loss " << first.main_loss << " -> " << last.main_loss;
  EXPECT_LT(last.mtp_loss, 0.25 * first.mtp_loss) << "MTP loss " << first.mtp_loss << " -> " << last.mtp_loss;
  const EvalReport eval = (*t)->evaluate(tokens, 8);
  EXPECT_LT(eval.main_loss, 0.25 * first.main_loss);
  ASSERT_EQ(last.moe_layers, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(last.loads[0].size(), size_t(c.n_routed_experts));
}

// The evaluation reads every token of the set once (windows at stride seq), routes with the
// trained biases, and sums the loads over the whole set before taking MaxVio.
TEST(Evaluation, CoversTheWholeSetAndMeasuresMaxVioOnIt) {
  const ModelConfig c = micro_config();
  TrainOptions o = small_run(2);
  o.batch = 3;  // the last evaluation batch is partial
  auto t = Trainer::create(c, o, random_tokens(3000, c.vocab_size, 4));
  ASSERT_TRUE(t.ok());
  (*t)->step();
  (*t)->step();
  const std::vector<int32_t> val = random_tokens(200, c.vocab_size, 8);
  const int64_t windows = (200 - (*t)->window()) / o.seq + 1;
  const EvalReport all = (*t)->evaluate(val);
  EXPECT_EQ(all.step, 2);
  EXPECT_EQ(all.windows, windows);
  EXPECT_EQ(all.tokens, windows * o.seq);
  ASSERT_EQ(all.moe_layers, (std::vector<int64_t>{1, 2}));  // layer 1 and the MTP layer
  for (size_t l = 0; l < all.loads.size(); ++l) {
    int64_t routed = 0;
    for (int64_t v : all.loads[l]) routed += v;
    EXPECT_EQ(routed, all.tokens * c.num_experts_per_tok) << "layer " << all.moe_layers[l];
    EXPECT_DOUBLE_EQ(all.max_vio[l], max_violation(all.loads[l]));
  }
  EXPECT_DOUBLE_EQ(all.mean_max_vio(), (all.max_vio[0] + all.max_vio[1]) / 2);
  EXPECT_GT(all.main_loss, 0);
  ASSERT_EQ(all.mtp_loss.size(), 1u);
  EXPECT_EQ((*t)->evaluate(val, 2).windows, 2);
  // The whole set is the token-weighted mean of its parts.
  const EvalReport head = (*t)->evaluate(val, 3);
  const std::vector<int32_t> tail_tokens(val.begin() + 3 * o.seq, val.end());
  const EvalReport tail = (*t)->evaluate(tail_tokens);
  ASSERT_EQ(head.windows + tail.windows, windows);
  EXPECT_NEAR(all.main_loss,
              (head.main_loss * double(head.windows) + tail.main_loss * double(tail.windows)) /
                  double(windows),
              1e-9);
  const std::string json = eval_json(all);
  for (const char* key : {"\"eval\"", "\"max_vio_mean\"", "\"layers\"", "\"load\"", "\"tokens\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
  EXPECT_NE(eval_text(all).find("MaxVio over the set"), std::string::npos);
}

// open() evaluates a saved run (its options, weights and biases) exactly as the run would,
// and a checkpoint without optimizer state with the options it is given.
TEST(Evaluation, OpenedCheckpointEvaluatesLikeTheRun) {
  const ModelConfig c = micro_config();
  const std::vector<int32_t> val = random_tokens(300, c.vocab_size, 6);
  const std::string dir = temp_dir("open");
  auto t = Trainer::create(c, small_run(3), random_tokens(3000, c.vocab_size, 3));
  ASSERT_TRUE(t.ok());
  for (int i = 0; i < 3; ++i) (*t)->step();
  ASSERT_TRUE((*t)->save(dir).ok());
  const EvalReport expected = (*t)->evaluate(val);
  TrainOptions other;  // other seq and batch: the run's saved options win
  other.threads = 3;
  auto opened = Trainer::open(dir, other);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  const EvalReport got = (*opened)->evaluate(val);
  EXPECT_EQ(got.step, 3);
  EXPECT_EQ(got.windows, expected.windows);
  EXPECT_DOUBLE_EQ(got.main_loss, expected.main_loss);
  EXPECT_EQ(got.loads, expected.loads);
  std::filesystem::remove(std::filesystem::path(checkpoint_files_dir(dir)) / "optimizer.safetensors");
  auto plain = Trainer::open(dir, small_run(3));
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ((*plain)->steps_done(), 0);
  EXPECT_DOUBLE_EQ((*plain)->evaluate(val).main_loss, expected.main_loss);
  EXPECT_FALSE(Trainer::open(temp_dir("missing"), other).ok());
  std::filesystem::remove_all(dir);
}

TEST(Balance, BiasMovesTowardsMeanLoad) {
  RouterBiases bias = {{}, {0.0f, 0.0f, 0.0f, 0.0f}};
  update_router_bias(bias, {{}, {10, 2, 4, 4}}, 0.5);  // mean 5
  EXPECT_EQ(bias[1], (std::vector<float>{-0.5f, 0.5f, 0.5f, 0.5f}));
  update_router_bias(bias, {{}, {5, 5, 5, 5}}, 0.5);  // balanced: no move
  EXPECT_EQ(bias[1], (std::vector<float>{-0.5f, 0.5f, 0.5f, 0.5f}));
}

TEST(Balance, MaxViolation) {
  EXPECT_DOUBLE_EQ(max_violation({10, 2, 4, 4}), 1.0);  // (10 - 5) / 5
  EXPECT_DOUBLE_EQ(max_violation({3, 3, 3}), 0.0);
  EXPECT_DOUBLE_EQ(max_violation({}), 0.0);
}

TEST(Balance, ModeNames) {
  for (BalanceMode m : {BalanceMode::kAuxFree, BalanceMode::kAuxLoss, BalanceMode::kNone}) {
    auto parsed = parse_balance_mode(balance_mode_name(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_FALSE(parse_balance_mode("sometimes").ok());
}

TEST(Schedule, WarmupConstantCosine) {
  const LrSchedule s{.peak = 1.0, .min = 0.1, .warmup = 4, .decay_start = 10, .total = 20};
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(15), 0.55, 1e-12);  // half way down the cosine
  EXPECT_NEAR(s.at(20), 0.1, 1e-12);
  EXPECT_NEAR(s.at(25), 0.1, 1e-12);
}

// Two AdamW updates against the torch.optim.AdamW formulas written out by hand.
TEST(AdamW, MatchesReferenceFormulas) {
  const ModelConfig c = micro_config();
  const ParamLayout layout = make_layout(c);
  const ParamInfo& matrix = *layout.find("lm_head.weight");
  const ParamInfo& norm = *layout.find("model.norm.weight");
  std::vector<float> p(layout.total, 0.5f), g(layout.total, 0.0f);
  AdamW adam(layout, {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1});
  for (int t = 0; t < 2; ++t) {
    g[matrix.offset] = 0.4f;  // times the clip factor 0.5
    g[norm.offset] = 0.4f;
    adam.update(nullptr, p.data(), g.data(), 0.01, 0.5f);
    EXPECT_EQ(g[matrix.offset], 0.0f) << "update consumes the gradients";
  }
  double pm = 0.5, pn = 0.5, m = 0, v = 0;
  for (int t = 1; t <= 2; ++t) {
    m = 0.9 * m + 0.1 * 0.2;
    v = 0.95 * v + 0.05 * 0.04;
    const double update = 0.01 * (m / (1 - std::pow(0.9, t))) /
                          (std::sqrt(v / (1 - std::pow(0.95, t))) + 1e-8);
    pm = pm * (1 - 0.01 * 0.1) - update;
    pn = pn - update;
  }
  EXPECT_NEAR(p[matrix.offset], pm, 1e-6);
  EXPECT_NEAR(p[norm.offset], pn, 1e-6);               // norms: no weight decay
  EXPECT_NEAR(p[matrix.offset + 1], 0.5 * 0.999 * 0.999, 1e-6);  // zero gradient: decay only
}

TEST(Data, TokenFiles) {
  const std::string dir = temp_dir("data");
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir + "/ids.txt") << "1 2, 3\n4\t5";
    const int32_t ids[] = {7, 0, 9};
    std::ofstream(dir + "/ids.bin", std::ios::binary).write(reinterpret_cast<const char*>(ids), 12);
    std::ofstream(dir + "/bad.txt") << "1 2 x3";
    std::ofstream(dir + "/big.txt") << "1 2 300";
  }
  auto text = load_tokens(dir + "/ids.txt", 10);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  auto bin = load_tokens(dir + "/ids.bin", 10);
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  EXPECT_EQ(*bin, (std::vector<int32_t>{7, 0, 9}));
  EXPECT_FALSE(load_tokens(dir + "/bad.txt", 10).ok());
  auto big = load_tokens(dir + "/big.txt", 10);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("300"), std::string::npos) << big.error().message;
  EXPECT_FALSE(load_tokens(dir + "/ids.bin", 8).ok());  // 9 is outside [0, 8)
  EXPECT_FALSE(load_tokens(dir + "/missing.bin", 8).ok());
  std::filesystem::remove_all(dir);
}

TEST(Data, SamplerCoversEveryWindowOncePerEpochAndSeeks) {
  WindowSampler s(100, 10, 8, 3);  // starts 0, 8, ..., 88: 12 windows
  ASSERT_EQ(s.windows_per_epoch(), 12);
  std::vector<int64_t> epoch0;
  for (int i = 0; i < 12; ++i) epoch0.push_back(s.next());
  std::vector<int64_t> sorted = epoch0;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(sorted[i], 8 * i);
  s.next();
  const DataPosition p = s.position();
  std::vector<int64_t> after;
  for (int i = 0; i < 20; ++i) after.push_back(s.next());
  WindowSampler t(100, 10, 8, 3);
  t.seek(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(t.next(), after[i]);
}

TEST(Options, JsonRoundTrip) {
  TrainOptions o = small_run(17);
  o.balance = BalanceMode::kAuxLoss;
  o.mtp_learns_main_model = true;
  o.freeze_main_model = true;
  auto back = TrainOptions::from_json(o.to_json());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->to_json(), o.to_json());
  // Runs saved before "mtp_target" existed learned from the text; unknown targets are named.
  nlohmann::json j = nlohmann::json::parse(o.to_json());
  j.erase("mtp_target");
  back = TrainOptions::from_json(j.dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->mtp_learns_main_model);
  EXPECT_TRUE(back->freeze_main_model);
  j["mtp_target"] = "oracle";
  back = TrainOptions::from_json(j.dump());
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("mtp_target 'oracle'"), std::string::npos);
}

}  // namespace
}  // namespace dsv3::train
