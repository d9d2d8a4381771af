#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/sampler.h"
#include "engine/stop.h"

namespace dsv3 {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 0.5f, -1.0f};

SamplingParams plain(float temperature) {
  return {.temperature = temperature, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f};
}

TEST(Sampler, GreedyPicksTheArgmax) {
  Sampler s(plain(0));
  EXPECT_EQ(s.sample(kLogits, {}), 1);
}

TEST(Sampler, DistributionIsTheTemperedSoftmax) {
  Sampler s(plain(2.0f));
  std::vector<float> p;
  s.distribution(kLogits, {}, p);
  double z = 0;
  for (float l : kLogits) z += std::exp(l / 2.0);
  for (size_t i = 0; i < kLogits.size(); ++i) EXPECT_NEAR(p[i], std::exp(kLogits[i] / 2.0) / z, 1e-6);
}

TEST(Sampler, TopKTopPMinPCutTheTail) {
  std::vector<float> p;
  SamplingParams k2 = plain(1);
  k2.top_k = 2;
  Sampler(k2).distribution(kLogits, {}, p);
  EXPECT_GT(p[1], 0);
  EXPECT_GT(p[2], 0);
  EXPECT_EQ(p[0] + p[3] + p[4], 0);

  SamplingParams tp = plain(1);
  tp.top_p = 0.5f;  // p(1) = 0.64 alone covers it
  Sampler(tp).distribution(kLogits, {}, p);
  EXPECT_FLOAT_EQ(p[1], 1.0f);

  SamplingParams mp = plain(1);
  mp.min_p = 0.3f;  // keeps tokens with p >= 0.3 * p(best): exp(-1) = 0.37 passes, exp(-2) not
  Sampler(mp).distribution(kLogits, {}, p);
  EXPECT_GT(p[2], 0);
  EXPECT_EQ(p[0], 0);
}

TEST(Sampler, PenaltiesLowerRepeatedTokens) {
  std::vector<float> l = kLogits;
  SamplingParams p = plain(1);
  p.repeat_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  const std::vector<int32_t> history = {1, 1, 4};
  apply_penalties(p, history, l);
  EXPECT_FLOAT_EQ(l[1], 3.0f / 2 - 0.5f - 2 * 0.25f);
  EXPECT_FLOAT_EQ(l[4], -1.0f * 2 - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[0], 1.0f);
}

TEST(Sampler, SeedMakesRunsReproducibleAndFrequenciesMatch) {
  Sampler a(plain(1)), b(plain(1));
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int32_t x = a.sample(kLogits, {});
    EXPECT_EQ(x, b.sample(kLogits, {}));
    ++counts[x];
  }
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (int t = 0; t < 5; ++t) {
    const double want = std::exp(kLogits[t]) / z;
    EXPECT_NEAR(counts[t] / double(n), want, 4 * std::sqrt(want * (1 - want) / n) + 1e-3) << t;
  }
}

TEST(Sampler, ValidateRefusesAbsurdValues) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_NE(validate(p).error().message.find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0;
  EXPECT_FALSE(validate(p).ok());
  p = {};
  p.temperature = NAN;
  EXPECT_FALSE(validate(p).ok());
  p = {};
  p.frequency_penalty = 5;
  EXPECT_NE(validate(p).error().message.find("frequency_penalty"), std::string::npos);
  EXPECT_TRUE(validate(SamplingParams{}).ok());
}

TEST(StopMatcher, FindsStopsAcrossTokenBoundaries) {
  StopMatcher m({"</end>", "STOP"});
  std::string shown;
  for (const char* piece : {"Hello <", "/en", "x> more </", "en", "d> never"}) {
    auto step = m.feed(piece);
    shown += step.emit;
    if (step.stopped) break;
  }
  EXPECT_EQ(shown, "Hello </enx> more ");
}

TEST(StopMatcher, HoldsBackOnlyPossiblePrefixes) {
  StopMatcher m({"STOP"});
  auto s = m.feed("abcST");
  EXPECT_EQ(s.emit, "abc");
  EXPECT_FALSE(s.stopped);
  s = m.feed("x");
  EXPECT_EQ(s.emit, "STx");
  s = m.feed("S");
  EXPECT_EQ(s.emit, "");
  EXPECT_EQ(m.flush(), "S");
}

}  // namespace
}  // namespace dsv3
