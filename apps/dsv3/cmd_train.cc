// dsv3 train: trains a DeepSeek-V3-architecture model on a token stream, writing a Hugging
// Face checkpoint that the inference commands load, plus optimizer state for --resume, and a
// JSON-lines metrics file. Progress (loss, tokens/s, ETA) goes to stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "command.h"
#include "dist/communicator.h"
#include "model/presets.h"
#include "train/blas.h"
#include "train/checkpoint.h"
#include "train/checkpoint_run.h"
#include "train/trainer.h"
#include "util/atomic_file.h"

namespace dsv3::cli {

namespace {

namespace fs = std::filesystem;
using train::TrainOptions;
using train::Trainer;

struct TrainFlags {
  std::string preset, config, init_from, data, val_data, out, balance = "aux-free";
  std::string mtp_target = "text";
  TrainOptions options;
  bool resume = false, profile = false, eval_only = false;
  int64_t save_every = 0, stop_after = 0, log_every = 10, eval_every = 0, eval_windows = 0;
  CLI::Option* steps_flag = nullptr;
  CLI::Option* threads_flag = nullptr;
};

ModelConfig read_config(const TrainFlags& f) {
  if (!f.preset.empty() && !f.config.empty()) throw CommandError("give --preset or --config, not both");
  if (!f.preset.empty()) return unwrap(preset_config(f.preset));
  if (f.config.empty()) throw CommandError("give the model as --preset NAME or --config FILE");
  std::ifstream in(f.config);
  if (!in) throw CommandError("cannot read " + f.config);
  std::stringstream ss;
  ss << in.rdbuf();
  return unwrap(parse_model_config(ss.str(), f.config));
}

// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after its
// checkpoint; replaced atomically, so a kill here loses nothing) and opens the file for
// appending.
std::ofstream open_metrics(const std::string& path, int64_t step) {
  std::string kept;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const size_t at = line.find("\"step\":");
      if (at != std::string::npos && std::stoll(line.substr(at + 7)) <= step) kept += line + "\n";
    }
  }
  unwrap(write_file_atomically(path, kept));
  std::ofstream out(path, std::ios::app);
  if (!out) throw CommandError("cannot write " + path);
  return out;
}

std::string duration(double seconds) {
  char buf[32];
  const long s = long(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  }
  return buf;
}

class Progress {
 public:
  Progress(int64_t first_step, int64_t last_step, int64_t log_every)
      : first_(first_step), last_(last_step), log_every_(log_every), tty_(isatty(2)) {}

  // Counts the update; prints the line when `print`.
  void update(const train::StepMetrics& m, bool print) {
    tokens_ += m.tokens;
    seconds_ += m.seconds;
    if (!print) return;
    const double rate = seconds_ > 0 ? double(tokens_) / seconds_ : 0;
    const double per_step = seconds_ / double(m.step - first_);
    const double eta = per_step * double(last_ - m.step);
    const int width = 20;
    const int filled = int(double(width) * double(m.step) / double(std::max<int64_t>(last_, 1)));
    std::string bar(filled, '#');
    bar.resize(width, '.');
    double max_vio = 0;
    for (double v : m.max_vio) max_vio = std::max(max_vio, v);
    std::fprintf(stderr, "%sstep %ld/%ld [%s] loss %.4f mtp %.4f maxvio %.2f lr %.2e | %.0f tok/s | ETA %s%s",
                 tty_ ? "\r\033[K" : "", long(m.step), long(last_), bar.c_str(), m.main_loss,
                 m.mtp_loss, max_vio, m.lr, rate, duration(eta).c_str(), tty_ ? "" : "\n");
    if (tty_ && m.step == last_) std::fprintf(stderr, "\n");
  }

  bool due(int64_t step) const {
    return tty_ || step == last_ || step == first_ + 1 || step % log_every_ == 0;
  }
  double rate() const { return seconds_ > 0 ? double(tokens_) / seconds_ : 0; }

 private:
  int64_t first_, last_, log_every_;
  bool tty_;
  int64_t tokens_ = 0;
  double seconds_ = 0;
};

// Evaluates on the validation tokens, records it in metrics.jsonl and reports it on stderr.
void evaluate(Trainer& trainer, const std::vector<int32_t>& val, int64_t windows,
              std::ofstream& metrics, bool tty) {
  const train::EvalReport r = trainer.evaluate(val, windows);
  metrics << train::eval_json(r) << "\n" << std::flush;
  std::fprintf(stderr, "%s%s", tty ? "\r\033[K" : "", train::eval_text(r).c_str());
}

// --eval-only: the checkpoint in --out (a run, or any trainable checkpoint) on --val-data;
// the report goes to stdout as text followed by its metrics.jsonl record.
void run_eval_only(TrainFlags& f) {
  if (f.out.empty() || f.val_data.empty()) throw CommandError("--eval-only needs --out DIR and --val-data FILE");
  const std::unique_ptr<Trainer> t = unwrap(Trainer::open(f.out, f.options));
  const auto val = unwrap(train::load_tokens(f.val_data, t->config().vocab_size));
  const train::EvalReport r = t->evaluate(val, f.eval_windows);
  if (r.windows == 0) throw CommandError(f.val_data + " is shorter than one window of --seq tokens");
  std::printf("%s%s\n", train::eval_text(r).c_str(), train::eval_json(r).c_str());
}

// Under mpirun every rank trains (data parallel: each computes its share of every batch, see
// Trainer::step); rank 0 alone writes the run, the metrics and the progress, and evaluates.
void run(TrainFlags& f) {
  const dist::Comm& world = dist::world();
  const bool root = world.is_root();
  if (f.eval_only) {
    if (root) run_eval_only(f);
    return;
  }
  if (f.data.empty()) throw CommandError("--data FILE is required");
  if (f.eval_every > 0 && f.val_data.empty()) throw CommandError("--eval-every needs --val-data");
  std::error_code ec;
  if (root) fs::create_directories(f.out, ec);
  if (ec) throw CommandError("cannot create " + f.out + ": " + ec.message());
  // What a killed save left behind goes; the checkpoint before it is intact.
  if (root) unwrap(train::clean_run_dir(f.out));
  const bool has_run = train::holds_training_run(f.out);
  std::unique_ptr<Trainer> trainer;
  if (f.resume && !f.init_from.empty()) {
    throw CommandError("--resume continues the run in --out; --init-from starts a new one: give one");
  }
  if (f.resume) {
    if (!has_run) throw CommandError(f.out + " holds no training run to --resume");
    const ModelConfig c = unwrap(load_model_config(train::checkpoint_files_dir(f.out)));
    auto tokens = unwrap(train::load_tokens(f.data, c.vocab_size));
    trainer = unwrap(Trainer::resume(f.out, std::move(tokens),
                                     f.steps_flag->count() ? f.options.steps : 0,
                                     f.threads_flag->count() ? f.options.threads : 0));
  } else {
    if (has_run) {
      throw CommandError(f.out + " already holds a training run: pass --resume to continue it, "
                         "or choose another --out");
    }
    f.options.balance = unwrap(train::parse_balance_mode(f.balance));
    f.options.mtp_learns_main_model = f.mtp_target == "main-model";
    if (!f.init_from.empty()) {
      if (!f.preset.empty() || !f.config.empty()) {
        throw CommandError("--init-from takes the model's shape from its config.json: drop --preset / --config");
      }
      const ModelConfig c = unwrap(load_model_config(train::checkpoint_files_dir(f.init_from)));
      auto tokens = unwrap(train::load_tokens(f.data, c.vocab_size));
      trainer = unwrap(Trainer::fine_tune(f.init_from, f.options, std::move(tokens)));
    } else {
      const ModelConfig c = read_config(f);
      auto tokens = unwrap(train::load_tokens(f.data, c.vocab_size));
      trainer = unwrap(Trainer::create(c, f.options, std::move(tokens)));
    }
  }
  std::vector<int32_t> val;
  if (!f.val_data.empty() && root) val = unwrap(train::load_tokens(f.val_data, trainer->config().vocab_size));

  const TrainOptions& o = trainer->options();
  const int64_t first = trainer->steps_done();
  const int64_t last = f.stop_after > 0 ? std::min(o.steps, first + f.stop_after) : o.steps;
  if (root) {
    std::fprintf(stderr,
                 "dsv3 train: %.2fM parameters, %ld tokens per update (%ld x %ld x %ld), steps "
                 "%ld to %ld of %ld, balance %s, %d threads x %d ranks, OpenBLAS %s\n",
                 double(trainer->layout().count()) / 1e6, long(o.batch * o.seq * o.accumulation),
                 long(o.batch), long(o.seq), long(o.accumulation), long(first), long(last),
                 long(o.steps), std::string(train::balance_mode_name(o.balance)).c_str(),
                 o.threads, world.size(), train::blas_core_name().c_str());
  }
  std::ofstream metrics;  // other ranks write nothing
  if (root) metrics = open_metrics((fs::path(f.out) / "metrics.jsonl").string(), first);
  Progress progress(first, last, f.log_every);
  while (trainer->steps_done() < last) {
    // The first update of a process pays for first-touch page faults of every buffer: the
    // profile starts after it.
    if (f.profile && trainer->steps_done() == first + 1) {
      trainer->enable_profile();
      train::enable_gemm_stats(true);
    }
    const train::StepMetrics m = trainer->step();
    if (!root) continue;
    metrics << train::metrics_json(m) << "\n" << std::flush;
    progress.update(m, progress.due(m.step));
    if (f.save_every > 0 && m.step % f.save_every == 0 && m.step < last) {
      unwrap(trainer->save(f.out));
    }
    if (f.eval_every > 0 && m.step % f.eval_every == 0 && m.step < last) {
      evaluate(*trainer, val, f.eval_windows, metrics, isatty(2));
    }
  }
  if (!root) return;
  if (f.profile) {
    const train::GemmStats g = train::gemm_stats();
    std::fprintf(stderr,
                 "time per phase over %ld updates (the first one left out):\n%s  matrix products: %ld calls, %.1f GFLOP, "
                 "%.3f CPU s (all threads), %.1f GFLOP/s per thread\n",
                 long(last - first - 1), trainer->profile().report().c_str(), long(g.calls),
                 g.flops / 1e9, g.seconds, g.seconds > 0 ? g.flops / g.seconds / 1e9 : 0.0);
  }
  // A resumed run that had nothing left to do keeps its checkpoint as it is.
  if (trainer->steps_done() > first || !has_run) unwrap(trainer->save(f.out));
  if (!val.empty()) evaluate(*trainer, val, f.eval_windows, metrics, false);
  std::fprintf(stderr, "saved %s at step %ld (%.0f tokens/s)\n", f.out.c_str(),
               long(trainer->steps_done()), progress.rate());
}

}  // namespace

void add_train_command(CLI::App& root) {
  auto f = std::make_shared<TrainFlags>();
  TrainOptions& o = f->options;
  CLI::App* cmd = root.add_subcommand(
      "train", "train a DeepSeek-V3-architecture model (MLA, MoE with aux-loss-free balancing, "
               "MTP) on token ids; writes a Hugging Face checkpoint");
  cmd->add_option("--preset", f->preset, "model shape: " + [] {
    std::string names;
    for (const auto& p : list_presets()) names += (names.empty() ? "" : ", ") + p.name;
    return names;
  }());
  cmd->add_option("--config", f->config, "model shape from a config.json file");
  cmd->add_option("--init-from", f->init_from,
                  "start from this checkpoint's weights and router biases (fine-tuning; its "
                  "config.json gives the shape; fresh optimizer state and schedule)");
  cmd->add_option("--data", f->data, "training token ids: *.txt (ids separated by spaces or "
                                      "commas) or a binary file of little-endian int32");
  cmd->add_option("--val-data", f->val_data, "held-out token ids, evaluated at the end (loss "
                                             "and per-layer MaxVio over the whole set)");
  cmd->add_option("--eval-every", f->eval_every, "also evaluate every N updates (0: at the end)");
  cmd->add_option("--eval-windows", f->eval_windows,
                  "evaluate at most N sequences of --val-data (0: all of it)");
  cmd->add_flag("--eval-only", f->eval_only, "evaluate the checkpoint in --out on --val-data "
                                             "and print the report (no training, no --data)");
  cmd->add_option("--out,-o", f->out,
                  "run directory: step-N/ checkpoints with optimizer state (current -> the "
                  "latest; RUN itself loads as a model), metrics.jsonl")
      ->required();
  f->steps_flag = cmd->add_option("--steps", o.steps, "optimizer updates in the run");
  cmd->add_option("--batch", o.batch, "sequences per micro-batch");
  cmd->add_option("--seq", o.seq, "tokens per sequence");
  cmd->add_option("--accum", o.accumulation, "micro-batches per update (gradient accumulation)");
  cmd->add_option("--lr", o.lr, "peak learning rate");
  cmd->add_option("--min-lr", o.min_lr, "learning rate at the end of the cosine decay");
  cmd->add_option("--warmup", o.warmup, "updates of linear warm-up");
  cmd->add_option("--decay-start", o.decay_start,
                  "fraction of the run after which the cosine decay starts");
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (not on norm weights)");
  cmd->add_option("--clip", o.clip, "gradient-norm clip (0: off)");
  cmd->add_option("--init-std", o.init_std, "standard deviation of the initial weights");
  cmd->add_option("--mtp-weight", o.mtp_weight, "lambda, the weight of the MTP loss");
  cmd->add_option("--mtp-target", f->mtp_target,
                  "what the MTP layer learns to predict: the text's token after next (text, as "
                  "DeepSeek-V3), or the main model's greedy choice for it (main-model: better "
                  "drafts, for fine-tuning with --init-from)")
      ->check(CLI::IsMember({"text", "main-model"}));
  cmd->add_flag("--freeze-main-model", o.freeze_main_model,
                "train only the MTP layers (the main model and its router biases stay as they are)");
  cmd->add_option("--balance", f->balance, "aux-free (bias + small sequence loss), aux-loss "
                                           "(classic balance loss), none")
      ->check(CLI::IsMember({"aux-free", "aux-loss", "none"}));
  cmd->add_option("--bias-update-speed", o.bias_update_speed, "gamma of the aux-free bias update");
  cmd->add_option("--seq-aux-alpha", o.seq_aux_alpha,
                  "alpha of the complementary sequence-wise loss (aux-free)");
  cmd->add_option("--aux-alpha", o.aux_alpha, "alpha of the balance loss (aux-loss)");
  cmd->add_option("--seed", o.seed, "seed of the initial weights and the data order");
  f->threads_flag = cmd->add_option("--threads,-t", o.threads, "threads")
                        ->check(CLI::Range(1, 1024));
  cmd->add_flag("--resume", f->resume, "continue the run saved in --out (its saved options; "
                                       "--steps and -t may change)");
  cmd->add_option("--save-every", f->save_every, "also save every N updates (0: at the end)");
  cmd->add_option("--stop-after", f->stop_after, "stop after N updates of this invocation");
  cmd->add_flag("--profile", f->profile, "print the time spent in each phase at the end");
  cmd->add_option("--log-every", f->log_every, "progress line every N updates when stderr is "
                                               "not a terminal");
  cmd->callback([f] { run(*f); });
}

}  // namespace dsv3::cli
