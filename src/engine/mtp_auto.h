// `--mtp auto`: speculate with the MTP layer only while it pays on this model and machine.
// Whether drafting helps depends on how much a (1 + drafts)-token verify forward costs against
// a one-token forward: nearly nothing where decoding is bandwidth-bound (big MoE models), a
// lot where it is compute-bound (the tiny default model), and on how often drafts are kept.
// So it is measured, not guessed: the first steps of a generation run plain and speculative
// blocks by turns; the faster mode (tokens per second, acceptance included) then runs, and
// a short block of the other mode re-checks it every `reprobe_steps` steps. The chosen mode's
// estimate follows every step it runs, so falling acceptance shows at once while speculating.
// A switch needs the other mode `hysteresis` faster, so noise does not make it oscillate.
//
// Pure logic: callers time their own steps and report them (so tests feed made-up timings).
#pragma once

#include <cstdint>
#include <vector>

namespace dsv3 {

enum class DecodeMode { kPlain, kSpeculative };

struct MtpAutoOptions {
  // Steps per measuring block. The first step of a block is not measured: it pays for the
  // switch (the MTP cache catching up, a token decided without a forward).
  int block_steps = 6;
  int calibration_rounds = 3;  // speculative and plain blocks by turns before the first choice
  int64_t reprobe_steps = 128;  // steps of the chosen mode between blocks of the other
  double hysteresis = 0.1;     // the other mode must be this much faster to be chosen
  // Weight of the newest step in an estimate once it holds more than 1 / weight steps (before
  // that, the plain mean of its steps).
  double average_weight = 1.0 / 16;
  // A step is counted as at most this many times its mode's fastest recent step: a process
  // descheduled on a shared machine must not decide for the rest of the generation.
  double outlier_clip = 3.0;
};

// What auto mode decided, for the speed line, bench and the server's metrics.
struct MtpAutoReport {
  bool decided = false;     // false while the first blocks are still being measured
  bool speculating = false; // the chosen mode
  double speedup = 0;       // speculative over plain tokens per second (0: not both measured)
  double tokens_per_step = 0;  // of speculative steps
  int64_t switches = 0;     // changes of the chosen mode after the first choice
};

class MtpAuto {
 public:
  explicit MtpAuto(MtpAutoOptions options = {});

  // The mode the next step should run.
  DecodeMode next() const;
  // One finished step that ran as next() asked: its wall time and the tokens it decided.
  void record(double seconds, int64_t tokens);

  MtpAutoReport report() const;
  // Estimated tokens per second of a mode (0 until measured).
  double tokens_per_second(DecodeMode mode) const;

 private:
  // Running averages of a mode's step time and tokens per step: their ratio is its speed
  // (a ratio of averages: a step keeping 3 drafts and one keeping none average right).
  // Step times are clipped to outlier_clip x the fastest, also those of the first steps
  // (a plain mean, recomputed as the fastest becomes known).
  struct Estimate {
    int64_t steps = 0;
    double seconds = 0, tokens = 0;
    double fastest = 0;
    std::vector<double> first_seconds;  // while the mean of the first steps is the estimate
    void restart() { *this = {}; }
    void add(double step_seconds, double step_tokens, const MtpAutoOptions& o);
    double tokens_per_second() const { return steps > 0 && seconds > 0 ? tokens / seconds : 0; }
  };
  enum class Phase { kCalibrating, kSteady, kProbing };

  Estimate& estimate(DecodeMode mode) { return mode == DecodeMode::kPlain ? plain_ : speculative_; }
  const Estimate& estimate(DecodeMode mode) const {
    return mode == DecodeMode::kPlain ? plain_ : speculative_;
  }
  void start_block(DecodeMode mode);
  void end_block();
  // The other mode if it beats the chosen one by the hysteresis.
  void reconsider();

  MtpAutoOptions options_;
  Phase phase_ = Phase::kCalibrating;
  DecodeMode block_mode_ = DecodeMode::kSpeculative;  // what the current block runs
  int block_step_ = 0;        // steps of the current block so far
  int blocks_done_ = 0;       // calibration blocks finished
  DecodeMode chosen_ = DecodeMode::kSpeculative;
  bool decided_ = false;
  int64_t steps_since_probe_ = 0;
  bool first_step_of_mode_ = true;  // the step after a switch is not measured
  int64_t switches_ = 0;
  Estimate plain_, speculative_;
};

}  // namespace dsv3
