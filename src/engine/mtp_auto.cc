#include "engine/mtp_auto.h"

#include <algorithm>

namespace dsv3 {

namespace {
DecodeMode other(DecodeMode m) {
  return m == DecodeMode::kPlain ? DecodeMode::kSpeculative : DecodeMode::kPlain;
}
}  // namespace

void MtpAuto::Estimate::add(double step_seconds, double step_tokens, const MtpAutoOptions& o) {
  fastest = steps > 0 ? std::min(fastest, step_seconds) : step_seconds;
  const double cap = o.outlier_clip * fastest;
  ++steps;
  if (double(steps) * o.average_weight <= 1) {  // the mean of the first steps
    first_seconds.push_back(step_seconds);
    double sum = 0;
    for (double t : first_seconds) sum += std::min(t, cap);
    seconds = sum / double(steps);
    tokens += (step_tokens - tokens) / double(steps);
    return;
  }
  first_seconds.clear();
  seconds += o.average_weight * (std::min(step_seconds, cap) - seconds);
  tokens += o.average_weight * (step_tokens - tokens);
}

MtpAuto::MtpAuto(MtpAutoOptions options) : options_(options) {
  options_.block_steps = std::max(options_.block_steps, 2);  // one unmeasured, one measured
  options_.calibration_rounds = std::max(options_.calibration_rounds, 1);
  options_.reprobe_steps = std::max<int64_t>(options_.reprobe_steps, 1);
  start_block(DecodeMode::kSpeculative);  // speculative first: short answers show acceptance
}

DecodeMode MtpAuto::next() const { return phase_ == Phase::kSteady ? chosen_ : block_mode_; }

double MtpAuto::tokens_per_second(DecodeMode mode) const {
  return estimate(mode).tokens_per_second();
}

void MtpAuto::start_block(DecodeMode mode) {
  block_mode_ = mode;
  block_step_ = 0;
}

void MtpAuto::record(double seconds, int64_t tokens) {
  const DecodeMode mode = next();
  if (phase_ == Phase::kSteady) {
    if (first_step_of_mode_) {
      first_step_of_mode_ = false;
    } else {
      estimate(mode).add(seconds, double(tokens), options_);
      // Only an estimate of some weight may overturn the choice: a few lucky steps do not.
      if (estimate(mode).steps * options_.average_weight >= 1) reconsider();
    }
    if (++steps_since_probe_ >= options_.reprobe_steps) {
      phase_ = Phase::kProbing;
      start_block(other(chosen_));
      estimate(block_mode_).restart();  // the probe measures afresh what may have changed
      // The chosen mode's steps may have slowed since its fastest (a longer context).
      estimate(chosen_).fastest = estimate(chosen_).seconds;
    }
    return;
  }
  if (block_step_ > 0) estimate(mode).add(seconds, double(tokens), options_);
  if (++block_step_ == options_.block_steps) end_block();
}

void MtpAuto::end_block() {
  if (phase_ == Phase::kCalibrating) {
    if (++blocks_done_ < 2 * options_.calibration_rounds) {
      start_block(other(block_mode_));
      return;
    }
    // The first choice: whichever is faster, however slightly (nothing to keep yet).
    decided_ = true;
    chosen_ = tokens_per_second(DecodeMode::kSpeculative) >= tokens_per_second(DecodeMode::kPlain)
                  ? DecodeMode::kSpeculative
                  : DecodeMode::kPlain;
  } else {
    reconsider();
  }
  phase_ = Phase::kSteady;
  steps_since_probe_ = 0;
  first_step_of_mode_ = chosen_ != block_mode_;
}

void MtpAuto::reconsider() {
  const double kept = tokens_per_second(chosen_), challenger = tokens_per_second(other(chosen_));
  if (kept <= 0 || challenger <= kept * (1 + options_.hysteresis)) return;
  chosen_ = other(chosen_);
  ++switches_;
  first_step_of_mode_ = true;
}

MtpAutoReport MtpAuto::report() const {
  const double plain = tokens_per_second(DecodeMode::kPlain);
  const double speculative = tokens_per_second(DecodeMode::kSpeculative);
  return {.decided = decided_,
          .speculating = chosen_ == DecodeMode::kSpeculative,
          .speedup = plain > 0 && speculative > 0 ? speculative / plain : 0,
          .tokens_per_step = speculative_.steps > 0 ? speculative_.tokens : 0,
          .switches = switches_};
}

}  // namespace dsv3
