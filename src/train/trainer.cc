#include "train/trainer.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "dist/communicator.h"
#include "train/blas.h"
#include "train/checkpoint.h"
#include "train/checkpoint_run.h"
#include "util/check.h"

namespace dsv3::train {

using nlohmann::json;

namespace {

LrSchedule make_schedule(const TrainOptions& o) {
  return {.peak = o.lr, .min = o.min_lr, .warmup = o.warmup,
          .decay_start = int64_t(o.decay_start * double(o.steps)), .total = o.steps};
}

Status check_options(const TrainOptions& o) {
  std::string problems;
  auto need = [&problems](bool ok, const char* what) {
    if (!ok) problems += std::string("\n  - ") + what;
  };
  need(o.steps > 0, "steps must be > 0");
  need(o.batch > 0, "batch must be > 0");
  need(o.seq > 1, "seq must be > 1");
  need(o.accumulation > 0, "accumulation must be > 0");
  need(o.lr > 0 && o.min_lr >= 0, "lr must be > 0 and min-lr >= 0");
  need(o.warmup >= 0, "warmup must be >= 0");
  need(o.decay_start >= 0 && o.decay_start <= 1, "decay-start must be in [0, 1]");
  need(o.clip >= 0, "clip must be >= 0");
  need(o.mtp_weight >= 0, "mtp-weight must be >= 0");
  need(o.threads > 0, "threads must be > 0");
  // Data parallel: each rank computes batch / ranks windows of every micro-step.
  need(o.batch % dist::world().size() == 0, "batch must be a multiple of the MPI ranks");
  if (problems.empty()) return OkStatus();
  return Err("invalid training options:", problems);
}

constexpr const char* kFormat = "dsv3-train-1";

// Count and FNV-1a hash of the token stream: a resumed run must read the same data.
std::string data_fingerprint(const std::vector<int32_t>& tokens) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int32_t t : tokens) h = (h ^ uint64_t(uint32_t(t))) * 0x100000001b3ull;
  return std::to_string(tokens.size()) + " tokens, hash " + std::to_string(h);
}

}  // namespace

double TrainOptions::balance_alpha() const {
  switch (balance) {
    case BalanceMode::kAuxFree: return seq_aux_alpha;
    case BalanceMode::kAuxLoss: return aux_alpha;
    case BalanceMode::kNone: return 0;
  }
  return 0;
}

std::string TrainOptions::to_json() const {
  json j = {{"steps", steps}, {"batch", batch}, {"seq", seq}, {"accumulation", accumulation},
            {"lr", lr}, {"min_lr", min_lr}, {"warmup", warmup}, {"decay_start", decay_start},
            {"weight_decay", weight_decay}, {"beta1", beta1}, {"beta2", beta2}, {"clip", clip},
            {"init_std", init_std}, {"mtp_weight", mtp_weight},
            {"mtp_target", mtp_learns_main_model ? "main-model" : "text"},
            {"freeze_main_model", freeze_main_model},
            {"balance", std::string(balance_mode_name(balance))},
            {"bias_update_speed", bias_update_speed}, {"seq_aux_alpha", seq_aux_alpha},
            {"aux_alpha", aux_alpha}, {"seed", seed}};
  return j.dump();
}

Result<TrainOptions> TrainOptions::from_json(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err("training options are not a JSON object");
  TrainOptions o;
  try {
    o.steps = j.at("steps");
    o.batch = j.at("batch");
    o.seq = j.at("seq");
    o.accumulation = j.at("accumulation");
    o.lr = j.at("lr");
    o.min_lr = j.at("min_lr");
    o.warmup = j.at("warmup");
    o.decay_start = j.at("decay_start");
    o.weight_decay = j.at("weight_decay");
    o.beta1 = j.at("beta1");
    o.beta2 = j.at("beta2");
    o.clip = j.at("clip");
    o.init_std = j.at("init_std");
    o.mtp_weight = j.at("mtp_weight");
    // Runs saved before the option existed learned from the text.
    const std::string mtp_target = j.value("mtp_target", "text");
    if (mtp_target != "text" && mtp_target != "main-model") {
      return Err("training options: mtp_target '", mtp_target, "' (expected text or main-model)");
    }
    o.mtp_learns_main_model = mtp_target == "main-model";
    o.freeze_main_model = j.value("freeze_main_model", false);
    DSV3_ASSIGN_OR_RETURN(o.balance, parse_balance_mode(j.at("balance").get<std::string>()));
    o.bias_update_speed = j.at("bias_update_speed");
    o.seq_aux_alpha = j.at("seq_aux_alpha");
    o.aux_alpha = j.at("aux_alpha");
    o.seed = j.at("seed");
  } catch (const json::exception& e) {
    return Err("training options: ", e.what());
  }
  return o;
}

std::string metrics_json(const StepMetrics& m) {
  json layers = json::array();
  for (size_t i = 0; i < m.moe_layers.size(); ++i) {
    layers.push_back({{"layer", m.moe_layers[i]}, {"max_vio", m.max_vio[i]}, {"load", m.loads[i]}});
  }
  json j = {{"step", m.step}, {"loss", m.loss}, {"main_loss", m.main_loss},
            {"mtp_loss", m.mtp_loss}, {"balance_loss", m.balance_loss}, {"lr", m.lr},
            {"grad_norm", m.grad_norm}, {"tokens", m.tokens}, {"seconds", m.seconds},
            {"tok_per_s", m.seconds > 0 ? double(m.tokens) / m.seconds : 0.0},
            {"layers", layers}};
  return j.dump();
}

Trainer::Trainer(const ModelConfig& config, const TrainOptions& options,
                 std::vector<int32_t> tokens)
    : config_(config),
      options_(options),
      layout_(make_layout(config)),
      params_(layout_.total, 0.0f),
      grads_(layout_.total, 0.0f),
      w_(bind_params(config_, params_.data())),
      g_(bind_params(config_, grads_.data())),
      bias_(make_router_biases(config_)),
      adam_(layout_, {.beta1 = options.beta1, .beta2 = options.beta2,
                      .weight_decay = options.weight_decay,
                      .first_trainable = options.freeze_main_model ? layout_.mtp_offset(config) : 0}),
      schedule_(make_schedule(options)),
      tokens_(std::move(tokens)),
      sampler_(int64_t(tokens_.size()), window_length(config, options.seq), options.seq,
               options.seed),
      pool_(std::make_unique<ThreadPool>(options.threads)),
      rope_(config_, options.seq) {}

Result<std::unique_ptr<Trainer>> Trainer::create(const ModelConfig& config,
                                                 const TrainOptions& options,
                                                 std::vector<int32_t> tokens) {
  DSV3_TRY(check_trainable(config));
  DSV3_TRY(check_options(options));
  if ((options.freeze_main_model || options.mtp_learns_main_model) &&
      config.num_nextn_predict_layers == 0) {
    return Err("--freeze-main-model and --mtp-target main-model need MTP layers "
               "(num_nextn_predict_layers is 0)");
  }
  init_blas();
  const int64_t window = window_length(config, options.seq);
  if (int64_t(tokens.size()) < window) {
    return Err("the training data has ", tokens.size(), " tokens; one window of seq + 1 + ",
               config.num_nextn_predict_layers, " (MTP) needs ", window);
  }
  std::unique_ptr<Trainer> t(new Trainer(config, options, std::move(tokens)));
  init_params(t->layout_, t->params_.data(), options.init_std, options.seed);
  return t;
}

namespace {

Result<std::string> saved_metadata(const OptimizerFile& opt, const std::string& dir,
                                   const char* key) {
  auto it = opt.metadata.find(key);
  if (it == opt.metadata.end()) return Err(dir, "/", kOptimizerFileName, ": no '", key, "' metadata");
  return it->second;
}

Result<TrainOptions> saved_options(const OptimizerFile& opt, const std::string& dir) {
  DSV3_ASSIGN_OR_RETURN(std::string format, saved_metadata(opt, dir, "format"));
  if (format != kFormat) return Err(dir, ": optimizer state format '", format, "', expected ", kFormat);
  DSV3_ASSIGN_OR_RETURN(std::string options_json, saved_metadata(opt, dir, "options"));
  return TrainOptions::from_json(options_json);
}

}  // namespace

Status Trainer::load_saved(const std::string& dir, const OptimizerFile* opt) {
  DSV3_TRY(load_model(dir, {&config_, &layout_, &bias_}, params_.data(), bias_));
  if (!opt) return OkStatus();
  DSV3_ASSIGN_OR_RETURN(std::string fingerprint, saved_metadata(*opt, dir, "params_fingerprint"));
  if (fingerprint != std::to_string(params_fingerprint(params_.data(), layout_.total))) {
    return Err(dir, ": the weights do not belong to ", kOptimizerFileName,
               " (a save was interrupted between the two files?)");
  }
  DSV3_ASSIGN_OR_RETURN(std::string step, saved_metadata(*opt, dir, "step"));
  steps_done_ = std::stoll(step);
  return OkStatus();
}

Result<std::unique_ptr<Trainer>> Trainer::resume(const std::string& run,
                                                 std::vector<int32_t> tokens, int64_t steps,
                                                 int threads) {
  // Every file from the one checkpoint `current` points at now, however the run moves on.
  const std::string dir = checkpoint_files_dir(run);
  DSV3_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(dir));
  DSV3_ASSIGN_OR_RETURN(OptimizerFile opt, load_optimizer(dir, make_layout(config).total));
  DSV3_ASSIGN_OR_RETURN(TrainOptions options, saved_options(opt, dir));
  if (steps > 0) options.steps = steps;
  if (threads > 0) options.threads = threads;
  DSV3_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> t, create(config, options, std::move(tokens)));
  DSV3_TRY(t->load_saved(dir, &opt));
  DSV3_ASSIGN_OR_RETURN(std::string data, saved_metadata(opt, dir, "data_fingerprint"));
  if (data != data_fingerprint(t->tokens_)) {
    return Err(dir, ": the run was trained on other data (", data, "); --data gives ",
               data_fingerprint(t->tokens_));
  }
  DSV3_ASSIGN_OR_RETURN(std::string epoch, saved_metadata(opt, dir, "data_epoch"));
  DSV3_ASSIGN_OR_RETURN(std::string index, saved_metadata(opt, dir, "data_index"));
  t->adam_.set_steps(t->steps_done_);
  t->adam_.exp_avg() = std::move(opt.exp_avg);
  t->adam_.exp_avg_sq() = std::move(opt.exp_avg_sq);
  t->sampler_.seek({.epoch = std::stoull(epoch), .index = std::stoull(index)});
  return t;
}

Result<std::unique_ptr<Trainer>> Trainer::fine_tune(const std::string& from,
                                                    const TrainOptions& options,
                                                    std::vector<int32_t> tokens) {
  const std::string dir = checkpoint_files_dir(from);
  DSV3_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(dir));
  DSV3_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> t, create(config, options, std::move(tokens)));
  DSV3_TRY(t->load_saved(dir, nullptr));
  return t;
}

Result<std::unique_ptr<Trainer>> Trainer::open(const std::string& run,
                                               const TrainOptions& fallback) {
  const std::string dir = checkpoint_files_dir(run);
  DSV3_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(dir));
  DSV3_TRY(check_trainable(config));
  TrainOptions options = fallback;
  std::optional<OptimizerFile> opt;
  if (std::filesystem::exists(std::filesystem::path(dir) / kOptimizerFileName)) {
    DSV3_ASSIGN_OR_RETURN(opt, load_optimizer(dir, make_layout(config).total));
    DSV3_ASSIGN_OR_RETURN(options, saved_options(*opt, dir));
    options.threads = fallback.threads;
  }
  DSV3_TRY(check_options(options));
  init_blas();
  std::unique_ptr<Trainer> t(new Trainer(config, options, {}));
  DSV3_TRY(t->load_saved(dir, opt ? &*opt : nullptr));
  return t;
}

TrainContext Trainer::context(int64_t batch) {
  return {.config = &config_, .rope = &rope_, .pool = pool_.get(), .arena = &arena_,
          .batch = batch, .seq = options_.seq, .profile = profiling_ ? &profile_ : nullptr};
}

StepMetrics Trainer::step() {
  DSV3_CHECK(!tokens_.empty(), "a Trainer from open() only evaluates");
  const auto start = std::chrono::steady_clock::now();
  const TrainOptions& o = options_;
  // Data parallel under mpirun: every rank draws the same window starts (same seed) and
  // computes its own slice of them; gradients, losses and expert loads are then summed.
  const dist::Comm& world = dist::world();
  const int64_t local = o.batch / world.size(), first_window = world.rank() * local;
  const TrainContext ctx = context(local);
  const int64_t W = window();
  const LossOptions loss{.mtp_weight = o.mtp_weight, .balance_alpha = o.balance_alpha(),
                         .grad_scale = 1.0 / double(o.accumulation),
                         .mtp_learns_main_model = o.mtp_learns_main_model};
  // grads_ is zero here: AdamW::update consumes it.
  windows_.resize(local * W);
  StepMetrics m;
  std::vector<std::vector<int64_t>> loads(config_.num_hidden_layers +
                                          config_.num_nextn_predict_layers);
  for (int64_t micro = 0; micro < o.accumulation; ++micro) {
    for (int64_t b = 0; b < o.batch; ++b) {
      const int64_t begin = sampler_.next();
      const int64_t slot = b - first_window;
      if (slot >= 0 && slot < local) std::copy_n(tokens_.begin() + begin, W, windows_.begin() + slot * W);
    }
    const LossReport r = model_forward_backward(ctx, w_, bias_, windows_.data(), loss, act_, &g_);
    m.loss += r.total / double(o.accumulation);
    m.main_loss += r.main / double(o.accumulation);
    for (double l : r.mtp) m.mtp_loss += l / double(r.mtp.size() * o.accumulation);
    m.balance_loss += r.balance / double(o.accumulation);
    for (size_t l = 0; l < loads.size(); ++l) {
      if (loads[l].empty()) loads[l].assign(r.loads[l].size(), 0);
      for (size_t e = 0; e < r.loads[l].size(); ++e) loads[l][e] += r.loads[l][e];
    }
  }
  if (world.distributed()) combine_ranks(world, m, loads);
  ProfileScope p(ctx.profile, "optimizer");
  adam_.clear_frozen(grads_.data());
  m.grad_norm = global_norm(pool_.get(), grads_.data(), layout_.total);
  const float clip = o.clip > 0 && m.grad_norm > o.clip ? float(o.clip / m.grad_norm) : 1.0f;
  m.lr = schedule_.at(steps_done_);
  adam_.update(pool_.get(), params_.data(), grads_.data(), m.lr, clip);
  if (o.balance == BalanceMode::kAuxFree) {
    // A frozen main model's routers keep their biases; the MTP layers' follow on from it.
    const size_t first = o.freeze_main_model ? size_t(config_.num_hidden_layers) : 0;
    update_router_bias(bias_, loads, o.bias_update_speed, first);
  }
  m.step = ++steps_done_;
  m.tokens = o.batch * o.seq * o.accumulation;
  for (size_t l = 0; l < loads.size(); ++l) {
    if (loads[l].empty()) continue;
    m.moe_layers.push_back(int64_t(l));
    m.max_vio.push_back(max_violation(loads[l]));
    m.loads.push_back(loads[l]);
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

// Each rank's gradient is the mean over its windows; the batch's is the mean of those. The
// sums are added in rank order, so every rank gets the same bits and the replicas stay equal.
void Trainer::combine_ranks(const dist::Comm& world, StepMetrics& m,
                            std::vector<std::vector<int64_t>>& loads) {
  const float share = 1.0f / float(world.size());
  world.allreduce_sum(std::span(grads_.data(), size_t(layout_.total)));
  for (int64_t i = 0; i < layout_.total; ++i) grads_[i] *= share;
  double losses[4] = {m.loss, m.main_loss, m.mtp_loss, m.balance_loss};
  world.allreduce_sum(std::span<double>(losses));
  m.loss = losses[0] / world.size();
  m.main_loss = losses[1] / world.size();
  m.mtp_loss = losses[2] / world.size();
  m.balance_loss = losses[3] / world.size();
  for (auto& layer : loads) {
    if (!layer.empty()) world.allreduce_sum(std::span<int64_t>(layer));
  }
}

EvalReport Trainer::evaluate(const std::vector<int32_t>& tokens, int64_t max_windows) {
  const int64_t W = window(), S = options_.seq;
  const int64_t available = int64_t(tokens.size()) >= W ? (int64_t(tokens.size()) - W) / S + 1 : 0;
  const int64_t count = max_windows > 0 ? std::min(available, max_windows) : available;
  EvalReport report{.step = steps_done_};
  if (count == 0) return report;
  ModelActivations<float> act;
  std::vector<std::vector<int64_t>> loads;
  for (int64_t first = 0; first < count; first += options_.batch) {
    const int64_t batch = std::min(options_.batch, count - first);
    windows_.resize(batch * W);
    for (int64_t b = 0; b < batch; ++b) {
      std::copy_n(tokens.begin() + (first + b) * S, W, windows_.begin() + b * W);
    }
    const LossReport r = model_forward_backward(context(batch), w_, bias_, windows_.data(),
                                                {.mtp_weight = options_.mtp_weight,
                                                 .measure_agreement = true},
                                                act,
                                                static_cast<ModelParams<float>*>(nullptr));
    // Every window predicts seq tokens per head: weighting by windows weights by tokens.
    report.main_loss += r.main * double(batch);
    report.mtp_loss.resize(r.mtp.size());
    for (size_t k = 0; k < r.mtp.size(); ++k) report.mtp_loss[k] += r.mtp[k] * double(batch);
    report.mtp_agreement.resize(r.mtp_agreement.size());
    for (size_t k = 0; k < r.mtp_agreement.size(); ++k) {
      report.mtp_agreement[k] += r.mtp_agreement[k] * double(batch);
    }
    loads.resize(r.loads.size());
    for (size_t l = 0; l < r.loads.size(); ++l) {
      loads[l].resize(r.loads[l].size());
      for (size_t e = 0; e < r.loads[l].size(); ++e) loads[l][e] += r.loads[l][e];
    }
  }
  report.windows = count;
  report.tokens = count * S;
  report.main_loss /= double(count);
  for (double& l : report.mtp_loss) l /= double(count);
  for (double& a : report.mtp_agreement) a /= double(count);
  set_expert_loads(report, loads);
  return report;
}

Status Trainer::save(const std::string& run) const {
  return commit_checkpoint(run, steps_done_, [this](const std::string& dir) { return save_to(dir); });
}

Status Trainer::save_to(const std::string& dir) const {
  DSV3_TRY(save_model(dir, {&config_, &layout_, &bias_}, params_.data()));
  const DataPosition pos = sampler_.position();
  OptimizerFile f{.exp_avg = adam_.exp_avg(), .exp_avg_sq = adam_.exp_avg_sq(),
                  .metadata = {{"format", kFormat},
                               {"step", std::to_string(steps_done_)},
                               {"data_epoch", std::to_string(pos.epoch)},
                               {"data_index", std::to_string(pos.index)},
                               {"data_fingerprint", data_fingerprint(tokens_)},
                               {"params_fingerprint",
                                std::to_string(params_fingerprint(params_.data(), layout_.total))},
                               {"options", options_.to_json()}}};
  return save_optimizer(dir, f);
}

}  // namespace dsv3::train
