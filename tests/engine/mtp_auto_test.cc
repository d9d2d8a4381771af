// `--mtp auto`'s decision, driven by made-up step timings: plain when speculation is slower,
// speculative when it is faster, back to plain when the acceptance falls, and no switching
// on noise.
#include "engine/mtp_auto.h"

#include <gtest/gtest.h>

#include <functional>

namespace dsv3 {
namespace {

// A made-up machine: what one step of each mode costs and yields, by step number.
struct Step {
  double seconds;
  int64_t tokens;
};
using Machine = std::function<Step(DecodeMode, int64_t step)>;

struct Trace {
  int64_t speculative_steps = 0, steps = 0;
  std::vector<DecodeMode> modes;
};

Trace drive(MtpAuto& a, const Machine& machine, int64_t steps, int64_t first_step = 0) {
  Trace r;
  for (int64_t i = first_step; i < first_step + steps; ++i) {
    const DecodeMode m = a.next();
    r.modes.push_back(m);
    r.speculative_steps += m == DecodeMode::kSpeculative;
    ++r.steps;
    const Step s = machine(m, i);
    a.record(s.seconds, s.tokens);
  }
  return r;
}

// One plain step: 1 token in `plain_ms`; a speculative step: 1 + accepted drafts (every
// `accept_every`-th step keeps none) in `speculative_ms`.
Machine fixed(double plain_ms, double speculative_ms, int accept_every = 4) {
  return [=](DecodeMode m, int64_t i) -> Step {
    if (m == DecodeMode::kPlain) return {plain_ms * 1e-3, 1};
    return {speculative_ms * 1e-3, i % accept_every == 0 ? 1 : 2};
  };
}

TEST(MtpAuto, MeasuresBothModesByTurnsBeforeChoosing) {
  MtpAuto a;
  const MtpAutoOptions o;
  const Trace r = drive(a, fixed(1.0, 1.0), 2 * o.calibration_rounds * o.block_steps);
  for (int64_t i = 0; i < r.steps; ++i) {
    const bool speculative_block = (i / o.block_steps) % 2 == 0;
    EXPECT_EQ(r.modes[size_t(i)] == DecodeMode::kSpeculative, speculative_block) << i;
  }
  EXPECT_TRUE(a.report().decided);
}

// The tiny default model: 1.75 tokens per step, but a verify step costs 2.2 one-token steps.
TEST(MtpAuto, ChoosesPlainWhenSpeculationIsSlower) {
  MtpAuto a;
  const MtpAutoOptions o;
  const int64_t steps = 2000;
  const Trace r = drive(a, fixed(1.0, 2.2), steps);
  const MtpAutoReport rep = a.report();
  ASSERT_TRUE(rep.decided);
  EXPECT_FALSE(rep.speculating);
  EXPECT_NEAR(rep.speedup, 1.75 / 2.2, 0.05);  // a probe sees 5 steps of the pattern
  EXPECT_NEAR(rep.tokens_per_step, 1.75, 0.1);
  EXPECT_EQ(rep.switches, 0);
  // Speculative steps: the calibration's blocks and one probe block per reprobe interval.
  const int64_t most = (o.calibration_rounds + steps / o.reprobe_steps + 1) * o.block_steps;
  EXPECT_LE(r.speculative_steps, most);
  EXPECT_LT(double(r.speculative_steps) / double(steps), 0.06);
}

// A bandwidth-bound MoE model: verifying two tokens costs hardly more than one.
TEST(MtpAuto, ChoosesSpeculativeWhenItIsFaster) {
  MtpAuto a;
  const MtpAutoOptions o;
  const int64_t steps = 2000;
  const Trace r = drive(a, fixed(10.0, 11.0), steps);
  const MtpAutoReport rep = a.report();
  ASSERT_TRUE(rep.decided);
  EXPECT_TRUE(rep.speculating);
  EXPECT_NEAR(rep.speedup, 1.75 / 1.1, 0.05);
  EXPECT_EQ(rep.switches, 0);
  const int64_t plain_most = (o.calibration_rounds + steps / o.reprobe_steps + 1) * o.block_steps;
  EXPECT_LE(steps - r.speculative_steps, plain_most);
}

// The drafts stop being accepted (the text turned to something the MTP layer does not
// predict): speculation falls behind and auto mode goes back to plain steps soon.
TEST(MtpAuto, SwitchesToPlainWhenAcceptanceFalls) {
  MtpAuto a;
  const Machine good = fixed(10.0, 12.0);
  drive(a, good, 500);
  ASSERT_TRUE(a.report().speculating);
  const Machine none_accepted = [](DecodeMode m, int64_t) -> Step {
    return m == DecodeMode::kPlain ? Step{10e-3, 1} : Step{12e-3, 1};
  };
  const Trace after = drive(a, none_accepted, 200, 500);
  EXPECT_FALSE(a.report().speculating);
  EXPECT_EQ(a.report().switches, 1);
  // Within a few dozen steps (the running average has to move past the hysteresis).
  int64_t last_speculative = -1;
  for (size_t i = 0; i < 60 && i < after.modes.size(); ++i) {
    if (after.modes[i] == DecodeMode::kSpeculative) last_speculative = int64_t(i);
  }
  EXPECT_LT(last_speculative, 60);
  EXPECT_EQ(after.modes.back(), DecodeMode::kPlain);
}

// And back: while plain, the periodic probe finds that drafts are accepted again.
TEST(MtpAuto, ProbesFindThatSpeculationPaysAgain) {
  MtpAuto a;
  drive(a, fixed(10.0, 25.0), 300);
  ASSERT_FALSE(a.report().speculating);
  const MtpAutoOptions o;
  drive(a, fixed(10.0, 11.0), o.reprobe_steps + 2 * o.block_steps, 300);
  EXPECT_TRUE(a.report().speculating);
  EXPECT_EQ(a.report().switches, 1);
}

// Speculation 3% faster on average, each step's time off by up to 8% either way: the choice
// is made once and kept, whatever the probes see.
TEST(MtpAuto, NoiseAroundEvenDoesNotMakeItOscillate) {
  for (const double ratio : {1.03, 0.97}) {
    MtpAuto a;
    uint64_t state = 12345;
    const Machine noisy = [&](DecodeMode m, int64_t) -> Step {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const double noise = 1 + 0.16 * (double(state >> 11) / double(1ull << 53) - 0.5);
      // Speculative: 2 tokens per step in 2 / ratio plain-step times.
      return m == DecodeMode::kPlain ? Step{1e-3 * noise, 1} : Step{2e-3 / ratio * noise, 2};
    };
    drive(a, noisy, 5000);
    EXPECT_TRUE(a.report().decided);
    EXPECT_EQ(a.report().switches, 0) << ratio;
    EXPECT_NEAR(a.report().speedup, ratio, 0.08) << ratio;
  }
}

// The first step of a block pays for the switch (the MTP cache catching up on the plain
// steps): it is not measured, however long it took.
TEST(MtpAuto, TheStepAfterASwitchIsNotMeasured) {
  MtpAuto a;
  const MtpAutoOptions o;
  int64_t in_block = 0;
  DecodeMode last = DecodeMode::kPlain;
  const Machine m = [&](DecodeMode mode, int64_t) -> Step {
    in_block = mode == last ? in_block + 1 : 0;
    last = mode;
    const double catch_up = in_block == 0 ? 1.0 : 0.0;  // a whole second
    return mode == DecodeMode::kPlain ? Step{catch_up + 10e-3, 1} : Step{catch_up + 11e-3, 2};
  };
  drive(a, m, 2 * o.calibration_rounds * o.block_steps);
  ASSERT_TRUE(a.report().decided);
  EXPECT_TRUE(a.report().speculating);
  EXPECT_NEAR(a.report().speedup, 2 / 1.1, 0.01);
}

// A shared machine deschedules the process now and then: a plain step that took 50 times
// its usual time (once every 40 steps) must not make speculation look faster.
TEST(MtpAuto, RareDescheduledStepsDoNotDecide) {
  MtpAuto a;
  const Machine spiky = [](DecodeMode m, int64_t i) -> Step {
    const double spike = i % 40 == 7 ? 50.0 : 1.0;
    return m == DecodeMode::kPlain ? Step{1e-3 * spike, 1} : Step{2.2e-3 * spike, 1 + (i % 4 != 0)};
  };
  drive(a, spiky, 3000);
  EXPECT_FALSE(a.report().speculating);
  EXPECT_EQ(a.report().switches, 0);
}

}  // namespace
}  // namespace dsv3
