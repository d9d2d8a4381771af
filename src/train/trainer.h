// The training loop: batches from the token stream, forward + backward (with gradient
// accumulation), clipping, AdamW on the learning-rate schedule, the aux-loss-free bias
// update, metrics, and checkpoints that resume exactly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/rope.h"
#include "train/balance.h"
#include "train/data.h"
#include "train/evaluation.h"
#include "train/optimizer.h"
#include "train/transformer.h"

namespace dsv3::dist {
class Comm;
}

namespace dsv3::train {

struct OptimizerFile;

struct TrainOptions {
  int64_t steps = 1000;      // optimizer updates in the whole run (the schedule's length)
  int64_t batch = 16;        // sequences per micro-batch
  int64_t seq = 256;         // tokens per sequence
  int64_t accumulation = 1;  // micro-batches per update
  double lr = 3e-3;          // peak learning rate
  double min_lr = 3e-4;      // end of the cosine decay
  int64_t warmup = 100;      // updates of linear warm-up
  double decay_start = 0.5;  // fraction of the run after which the cosine decay starts
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95;
  double clip = 1.0;  // global gradient-norm clip; 0 disables
  double init_std = 0.006;
  double mtp_weight = 0.3;  // lambda
  // MTP learns the main model's greedy choices instead of the text (LossOptions): a
  // fine-tuning step for better drafts. JSON "mtp_target": "text" | "main-model".
  bool mtp_learns_main_model = false;
  // Train only the MTP layers' own parameters (the main model, its router biases included,
  // stays as it is): better drafts without changing what the model says.
  bool freeze_main_model = false;
  BalanceMode balance = BalanceMode::kAuxFree;
  double bias_update_speed = 1e-3;  // gamma (aux-free)
  double seq_aux_alpha = 1e-4;      // complementary sequence-wise loss (aux-free)
  double aux_alpha = 1e-3;          // classic balance loss (aux-loss)
  uint64_t seed = 1;
  int threads = 2;  // not part of the run's identity: results do not depend on it

  // Weight of the routers' balance loss that `balance` implies.
  double balance_alpha() const;
  std::string to_json() const;
  static Result<TrainOptions> from_json(const std::string& text);
};

struct StepMetrics {
  int64_t step = 0;  // number of updates done, this one included
  double loss = 0;   // main + lambda * mean(mtp) + balance, averaged over micro-batches
  double main_loss = 0, mtp_loss = 0, balance_loss = 0;  // mtp: mean over depths
  double lr = 0, grad_norm = 0;  // grad_norm before clipping
  int64_t tokens = 0;            // tokens predicted by the main model in this update
  double seconds = 0;
  std::vector<int64_t> moe_layers;  // layer index of each entry below (MTP: N + depth)
  std::vector<double> max_vio;      // MaxVio of the update's batch, per MoE layer
  std::vector<std::vector<int64_t>> loads;  // tokens per expert, per MoE layer
};

// One JSON object (no newline): step, loss, main_loss, mtp_loss, balance_loss, lr, grad_norm,
// tokens, seconds, tok_per_s, layers [{layer, max_vio, load}].
std::string metrics_json(const StepMetrics& m);

class Trainer {
 public:
  // A fresh run: weights from options.seed, data order from it too.
  static Result<std::unique_ptr<Trainer>> create(const ModelConfig& config,
                                                 const TrainOptions& options,
                                                 std::vector<int32_t> tokens);
  // Continues the run saved in `dir` (a run folder or a checkpoint directory) with its saved
  // options; `steps` > 0 replaces the run's length (which changes the schedule's decay),
  // `threads` > 0 the thread count.
  static Result<std::unique_ptr<Trainer>> resume(const std::string& dir,
                                                 std::vector<int32_t> tokens, int64_t steps,
                                                 int threads);
  // A fresh run (new optimizer state, schedule and data order from `options`) that starts
  // from the weights and router biases of the checkpoint in `dir`, whose config.json gives
  // the model's shape: fine-tuning, e.g. on longer sequences.
  static Result<std::unique_ptr<Trainer>> fine_tune(const std::string& dir,
                                                    const TrainOptions& options,
                                                    std::vector<int32_t> tokens);
  // The weights and router biases saved in `dir`, for evaluate() only (step() needs the
  // data: resume). The run's saved options where `dir` holds a training run, else
  // `fallback` (any checkpoint of a trainable config, models/default for instance).
  static Result<std::unique_ptr<Trainer>> open(const std::string& dir,
                                               const TrainOptions& fallback);

  StepMetrics step();
  // Losses and expert loads over consecutive windows of `tokens` (stride seq, so every token
  // of the set is predicted once), at most `max_windows` of them (0: all). Routing uses
  // the trained biases, as inference does; nothing is updated.
  EvalReport evaluate(const std::vector<int32_t>& tokens, int64_t max_windows = 0);

  // A checkpoint of the run in folder `run` (layout and atomicity: checkpoint_run.h).
  Status save(const std::string& run) const;

  // Time per phase from now on (`dsv3 train --profile`).
  void enable_profile() { profiling_ = true; }
  const Profile& profile() const { return profile_; }

  int64_t steps_done() const { return steps_done_; }
  const TrainOptions& options() const { return options_; }
  const ModelConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }
  const std::vector<float>& params() const { return params_; }
  const RouterBiases& biases() const { return bias_; }
  int64_t window() const { return window_length(config_, options_.seq); }

 private:
  Trainer(const ModelConfig& config, const TrainOptions& options, std::vector<int32_t> tokens);
  // Under mpirun: the ranks' gradients, losses and expert loads summed into this step's.
  void combine_ranks(const dist::Comm& world, StepMetrics& m,
                     std::vector<std::vector<int64_t>>& loads);
  // The weights, biases and step of a saved run; opt: its optimizer file (may be null).
  Status load_saved(const std::string& dir, const OptimizerFile* opt);
  // Model files and optimizer state into the directory of one checkpoint.
  Status save_to(const std::string& dir) const;
  TrainContext context(int64_t batch);

  ModelConfig config_;
  TrainOptions options_;
  ParamLayout layout_;
  std::vector<float> params_, grads_;
  ModelParams<float> w_, g_;
  RouterBiases bias_;
  AdamW adam_;
  LrSchedule schedule_;
  std::vector<int32_t> tokens_;
  WindowSampler sampler_;
  std::unique_ptr<ThreadPool> pool_;
  Arena arena_;
  RopeTable rope_;
  ModelActivations<float> act_;
  std::vector<int32_t> windows_;
  int64_t steps_done_ = 0;
  bool profiling_ = false;
  Profile profile_;
};

}  // namespace dsv3::train
