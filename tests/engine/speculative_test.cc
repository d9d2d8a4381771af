// MTP speculative decoding: same greedy output as plain decoding, and the same distribution
// when sampling (spec/mtp.md; Leviathan et al. 2023).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/generation.h"
#include "engine/speculative.h"
#include "support/golden.h"
#include "support/tiny_tokenizer.h"

namespace dsv3 {
namespace {

TEST(VerifyDraft, OutputFollowsTheTargetDistribution) {
  const std::vector<float> p = {0.5f, 0.3f, 0.15f, 0.05f, 0.0f};
  const std::vector<float> q = {0.1f, 0.6f, 0.05f, 0.05f, 0.2f};
  Sampler s({.temperature = 1, .seed = 11});
  const int n = 200000;
  std::vector<int> counts(p.size());
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t d = s.draw(q);
    const int32_t r = verify_draft(p, q, d, s);
    accepted += r < 0;
    ++counts[r < 0 ? d : r];
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const double sd = std::sqrt(p[i] * (1 - p[i]) / n);
    EXPECT_NEAR(counts[i] / double(n), p[i], 5 * sd + 1e-4) << i;
  }
  // Acceptance rate = sum_x min(p, q) = 0.1 + 0.3 + 0.05 + 0.05 = 0.5.
  EXPECT_NEAR(accepted / double(n), 0.5, 0.01);
}

TEST(VerifyDraft, GreedyAcceptsExactlyTheArgmax) {
  Sampler s({.temperature = 0});
  const std::vector<float> p = {0, 1, 0}, q_same = {0, 1, 0}, q_other = {1, 0, 0};
  EXPECT_EQ(verify_draft(p, q_same, 1, s), -1);
  EXPECT_EQ(verify_draft(p, q_other, 0, s), 1);
}

class SpeculativeGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::GoldenCase g("v3-tiny");
    model_ = Model::load(g.checkpoint_dir(), {.max_positions = 256}).value().release();
    prompt_ = g.array("p2.tokens").i32;
  }
  // n tokens after the prompt; `session` (when given) is reused: only the last prompt token is
  // recomputed.
  static std::vector<int32_t> run(int draft, const SamplingParams& sp, int64_t n,
                                  MtpStats* stats = nullptr, Session* reuse = nullptr) {
    Session fresh(*model_, SessionOptions{.context = 256, .mtp = true});
    Session& session = reuse ? *reuse : fresh;
    Sampler sampler(sp);
    TokenDecoder dec(session, sampler, draft);
    EXPECT_TRUE(sync_prompt(session, prompt_).ok());
    std::vector<int32_t> out;
    while (int64_t(out.size()) < n) {
      auto step = dec.step(n - int64_t(out.size()));
      EXPECT_TRUE(step.ok());
      out.insert(out.end(), step->begin(), step->end());
    }
    if (stats) *stats = dec.stats();
    return out;
  }
  static inline Model* model_ = nullptr;
  static inline std::vector<int32_t> prompt_;
};

// A prompt fills the MTP cache as it is prefilled (in chunks), all but the last slot; a
// draft from there equals the MTP layer run over every slot at once.
TEST_F(SpeculativeGolden, PromptFillsTheMtpCacheLikeOneCall) {
  const Model& m = *model_;
  const int64_t n = int64_t(prompt_.size()), V = m.config().vocab_size;
  ASSERT_GT(n, 6);
  Session session(m, SessionOptions{.context = 64, .mtp = true});
  ASSERT_TRUE(session.append(prompt_, /*chunk=*/3).ok());
  EXPECT_EQ(session.mtp_cache().length(), n - 1);

  const int32_t next = 7;
  std::vector<float> drafted(V), whole(V);
  m.mtp_forward({.tokens = std::span(&next, 1), .hidden = session.hidden_at(n - 1),
                 .cache = &session.mtp_cache(), .arena = &session.arena(),
                 .logits_out = drafted.data(), .last_logits_only = true});
  std::vector<int32_t> slots(prompt_.begin() + 1, prompt_.end());
  slots.push_back(next);
  KvCache cache = m.new_mtp_cache(64);
  Arena arena;
  m.mtp_forward({.tokens = slots, .hidden = session.hidden_at(0), .cache = &cache,
                 .arena = &arena, .logits_out = whole.data(), .last_logits_only = true});
  for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(drafted[v], whole[v], 1e-4) << "token " << v;
}

TEST_F(SpeculativeGolden, GreedyOutputIsIdenticalWithAndWithoutDrafts) {
  const SamplingParams greedy{.temperature = 0};
  const auto plain = run(0, greedy, 40);
  for (int draft : {1, 2, 3}) {
    MtpStats st;
    EXPECT_EQ(run(draft, greedy, 40, &st), plain) << "draft " << draft;
    ASSERT_EQ(st.drafted.size(), size_t(draft));
    EXPECT_GT(st.drafted[0], 0);
    EXPECT_GE(st.tokens_per_forward(), 1.0);
  }
}

TEST_F(SpeculativeGolden, SamplingKeepsTheMainModelsDistribution) {
  // The second generated token's distribution, exactly: sum over t1 of p(t1) p(t2 | t1).
  const SamplingParams sp{.temperature = 1.5f, .top_k = 3, .top_p = 1, .min_p = 0};
  Session exact(*model_, 256);
  ASSERT_TRUE(exact.append(prompt_).ok());
  Sampler s(sp);
  std::vector<float> p1, p2;
  s.distribution(exact.logits(), exact.tokens(), p1);
  std::map<int32_t, double> want;
  for (size_t t1 = 0; t1 < p1.size(); ++t1) {
    if (p1[t1] == 0) continue;
    exact.truncate(int64_t(prompt_.size()));
    const int32_t tok = int32_t(t1);
    ASSERT_TRUE(exact.append(std::span(&tok, 1)).ok());
    s.distribution(exact.logits(), exact.tokens(), p2);
    for (size_t x = 0; x < p2.size(); ++x) if (p2[x] > 0) want[int32_t(x)] += p1[t1] * p2[x];
  }
  const int n = 1200;
  std::map<int32_t, int> counts;
  int64_t drafted = 0, accepted = 0;
  Session session(*model_, SessionOptions{.context = 256, .mtp = true});
  for (int i = 0; i < n; ++i) {
    SamplingParams spi = sp;
    spi.seed = 1000 + uint64_t(i);
    MtpStats st;
    ++counts[run(1, spi, 2, &st, &session)[1]];
    drafted += st.drafted[0];
    accepted += st.accepted[0];
  }
  ASSERT_GT(drafted, n / 2);
  EXPECT_GT(accepted, 0) << "some drafts must be accepted for the test to mean anything";
  EXPECT_LT(accepted, drafted) << "and some rejected";
  double chi2 = 0;
  for (const auto& [x, pw] : want) {
    const double e = pw * n;
    chi2 += (counts[x] - e) * (counts[x] - e) / e;
  }
  for (const auto& [x, c] : counts) EXPECT_TRUE(want.count(x)) << "token " << x << " cannot occur";
  // At most 9 outcomes (8 degrees of freedom): chi2 > 26.1 has p < 0.001.
  EXPECT_LT(chi2, 26.1) << "outcomes " << want.size();
}

TEST_F(SpeculativeGolden, GenerateTextGivesTheSameTextAndReportsStats) {
  const std::string dir = ::testing::TempDir() + "/dsv3_spec_tok";
  testing::write_tiny_tokenizer(dir);
  auto tok = Tokenizer::load(dir);
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  GenerationRequest req{.prompt = prompt_, .max_new_tokens = 24, .sampling = {.temperature = 0},
                        .stop_at_eos = false};
  Session plain(*model_, 256), spec(*model_, SessionOptions{.context = 256, .mtp = true});
  auto a = generate_text(plain, *tok, req);
  req.draft = 2;
  auto b = generate_text(spec, *tok, req);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(a->text, b->text);
  ASSERT_EQ(b->mtp.drafted.size(), 2u);
  EXPECT_GT(b->mtp.drafted[0], 0);
  EXPECT_GE(b->mtp.tokens_per_forward(), 1.0);
  // The session holds exactly the prompt and the answer, whatever was drafted past it.
  EXPECT_EQ(spec.length(), int64_t(prompt_.size() + b->tokens.size()) - 1);
}

}  // namespace
}  // namespace dsv3
