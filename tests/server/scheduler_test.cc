// Continuous batching against the engine's one-sequence generation: sequences decoded
// together, prefilled in chunks, joining and leaving mid-batch, must produce exactly what
// each produces alone.
#include "server/scheduler.h"

#include <gtest/gtest.h>

#include "engine/generation.h"
#include "server/harness.h"

namespace dsv3::server {
namespace {

using testing::tiny_text_model;

struct Collected {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  JobOutput last;
};

Collected collect(JobChannel& channel) {
  Collected c;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    JobOutput out = channel.take(std::chrono::milliseconds(1000));
    c.text += out.text;
    for (auto& lp : out.logprobs) c.logprobs.push_back(std::move(lp));
    if (out.done) {
      c.last = std::move(out);
      return c;
    }
  }
  ADD_FAILURE() << "the job did not finish";
  return c;
}

std::vector<int32_t> prompt_of(const std::string& text) {
  return tiny_text_model().encode_prompt(text).value();
}

GenerationResult alone(const GenerationJob& job) {
  Session session(tiny_text_model().model(), testing::kTestContext);
  auto r = generate_text(session, tiny_text_model().tokenizer(),
                         {.prompt = job.prompt,
                          .max_new_tokens = job.max_new_tokens,
                          .sampling = job.sampling,
                          .stop = job.stop,
                          .stop_at_eos = job.stop_at_eos,
                          .skip_special_in_text = job.skip_special});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return std::move(r).value();
}

SchedulerOptions small(int64_t parallel, int64_t queue = 16) {
  return {.parallel = parallel,
          .context = testing::kTestContext,
          .max_queue = queue,
          .prefill_chunk = 16};
}

std::vector<GenerationJob> mixed_jobs() {
  const std::vector<std::string> prompts = {
      "the cat",
      "Once upon a time, in a land far away, there lived a very old king who",
      "a",
      "Hello there, how are you doing today? I hope the weather is fine where you are. "
      "Here it has been raining for three days straight and the river is rising fast.",
      "1 2 3 4 5 6 7 8 9 10 11 12",
      "The quick brown fox jumps over the lazy dog. "};
  std::vector<GenerationJob> jobs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationJob job{.prompt = prompt_of(prompts[i]), .max_new_tokens = int64_t(8 + 5 * i)};
    job.sampling.seed = 100 + i;
    job.sampling.temperature = i % 2 ? 0.0f : 0.9f;  // greedy and seeded sampling
    job.skip_special = false;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

TEST(Scheduler, BatchedGenerationMatchesEachSequenceAlone) {
  const auto jobs = mixed_jobs();
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(4));
  std::vector<std::shared_ptr<JobChannel>> channels;
  for (const auto& job : jobs) {
    ASSERT_TRUE(scheduler.check(job).ok());
    channels.push_back(scheduler.submit(job));
    ASSERT_NE(channels.back(), nullptr);
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Collected got = collect(*channels[i]);
    const GenerationResult want = alone(jobs[i]);
    EXPECT_EQ(got.text, want.text) << "job " << i;
    EXPECT_EQ(got.last.completion_tokens, int64_t(want.tokens.size())) << "job " << i;
    EXPECT_EQ(got.last.prompt_tokens, int64_t(jobs[i].prompt.size()));
    EXPECT_EQ(got.last.finish, want.finish) << "job " << i;
  }
  const SchedulerStats s = scheduler.stats();
  EXPECT_EQ(s.requests_finished, int64_t(jobs.size()));
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.queued, 0);
  // Several sequences per forward: fewer steps than tokens computed.
  EXPECT_LT(s.steps, s.generated_tokens + s.prefill_tokens / 16);
}

// With MTP drafts, each sequence of the batch decodes exactly as it does alone with the same
// drafts and seed (the verification forwards are batched, the drafting is per sequence), and
// greedy sequences give the plain greedy text.
TEST(Scheduler, MtpDraftsInTheBatchMatchEachSequenceAlone) {
  const TextModel& tm = testing::tiny_text_model_mtp();
  const auto jobs = mixed_jobs();
  for (int draft : {1, 2}) {
    SchedulerOptions options = small(4);
    options.draft = draft;
    Scheduler scheduler(tm.model(), tm.tokenizer(), options);
    std::vector<std::shared_ptr<JobChannel>> channels;
    for (const auto& job : jobs) channels.push_back(scheduler.submit(job));
    for (size_t i = 0; i < jobs.size(); ++i) {
      const Collected got = collect(*channels[i]);
      Session session(tm.model(), SessionOptions{.context = testing::kTestContext, .mtp = true});
      auto want = generate_text(session, tm.tokenizer(),
                                {.prompt = jobs[i].prompt,
                                 .max_new_tokens = jobs[i].max_new_tokens,
                                 .sampling = jobs[i].sampling,
                                 .stop_at_eos = jobs[i].stop_at_eos,
                                 .skip_special_in_text = jobs[i].skip_special,
                                 .draft = draft});
      ASSERT_TRUE(want.ok()) << want.error().message;
      EXPECT_EQ(got.text, want->text) << "draft " << draft << " job " << i;
      EXPECT_EQ(got.last.completion_tokens, int64_t(want->tokens.size()));
      if (jobs[i].sampling.temperature == 0) {
        EXPECT_EQ(got.text, alone(jobs[i]).text) << "greedy job " << i;
      }
    }
    const SchedulerStats s = scheduler.stats();
    EXPECT_GT(s.mtp_draft_tokens, 0);
    EXPECT_LE(s.mtp_accepted_tokens, s.mtp_draft_tokens);
    EXPECT_EQ(s.requests_finished, int64_t(jobs.size()));
  }
}

// Under --mtp auto the batch switches between plain and speculative steps as measured (one
// choice for the server); greedy sequences keep the plain greedy text through every switch,
// and the stats show the choice once the first blocks are measured.
TEST(Scheduler, MtpAutoKeepsTheGreedyTextAndReportsItsChoice) {
  const TextModel& tm = testing::tiny_text_model_mtp();
  SchedulerOptions options = small(2);
  options.draft = 2;
  options.mtp_auto = true;
  Scheduler scheduler(tm.model(), tm.tokenizer(), options);
  GenerationJob job{.prompt = prompt_of("the cat sat on"), .max_new_tokens = 80, .stop_at_eos = false};
  job.sampling.temperature = 0;
  const Collected got = collect(*scheduler.submit(job));
  EXPECT_EQ(got.text, alone(job).text);
  EXPECT_EQ(got.last.completion_tokens, 80);
  const SchedulerStats s = scheduler.stats();
  ASSERT_TRUE(s.mtp_auto.has_value());
  EXPECT_TRUE(s.mtp_auto->decided);
  EXPECT_GT(s.mtp_auto->speedup, 0.0);
  EXPECT_GT(s.mtp_draft_tokens, 0);  // the speculative blocks that measured it
  // Without auto there is nothing to report.
  SchedulerOptions fixed = small(1);
  fixed.draft = 1;
  EXPECT_FALSE(Scheduler(tm.model(), tm.tokenizer(), fixed).stats().mtp_auto.has_value());
}

TEST(Scheduler, LaterRequestReusesTheCachedPrefix) {
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(2));
  GenerationJob job{.prompt = prompt_of("Once upon a time, in a land far away"),
                    .max_new_tokens = 10};
  job.sampling.temperature = 0;
  const Collected first = collect(*scheduler.submit(job));
  EXPECT_EQ(first.last.cached_tokens, 0);
  const Collected second = collect(*scheduler.submit(job));
  EXPECT_EQ(second.last.cached_tokens, int64_t(job.prompt.size()) - 1);
  EXPECT_EQ(second.text, first.text);
  // A continuation of the first conversation reuses the prompt and what was generated.
  GenerationJob next = job;
  const auto more = prompt_of(" and then");
  next.prompt.insert(next.prompt.end(), more.begin(), more.end());
  const Collected third = collect(*scheduler.submit(next));
  EXPECT_GE(third.last.cached_tokens, int64_t(job.prompt.size()));
  EXPECT_EQ(third.text, alone(next).text);
}

TEST(Scheduler, StopStringEndsTheTextBeforeIt) {
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(1));
  // Most of the random model's 2048 ids are past the tiny tokenizer's vocabulary and make no
  // text, hence many tokens. (Greedy decoding may also repeat one such id forever.)
  GenerationJob job{.prompt = prompt_of("the cat"), .max_new_tokens = 300, .stop_at_eos = false};
  job.sampling.seed = 99;
  const std::string full = collect(*scheduler.submit(job)).text;
  ASSERT_GT(full.size(), 12u);
  // A stop string of whole characters from the middle of the text.
  size_t begin = 6;
  while (begin < full.size() && (full[begin] & 0xC0) == 0x80) ++begin;
  size_t end = begin + 1;
  while (end < full.size() && (full[end] & 0xC0) == 0x80) ++end;
  const std::string stop = full.substr(begin, end - begin);
  job.stop = {stop};
  const Collected got = collect(*scheduler.submit(job));
  EXPECT_EQ(got.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(got.last.finish, FinishReason::kStop);
}

TEST(Scheduler, LogprobsDescribeTheSampledTokens) {
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(1));
  GenerationJob job{
      .prompt = prompt_of("the cat"), .max_new_tokens = 6, .stop_at_eos = false, .top_logprobs = 3};
  job.sampling.temperature = 0;
  const Collected got = collect(*scheduler.submit(job));
  ASSERT_EQ(got.logprobs.size(), 6u);
  for (const auto& lp : got.logprobs) {
    EXPECT_LE(lp.logprob, 0.0f);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, lp.id);  // greedy: the sampled token is the most likely
    EXPECT_FLOAT_EQ(lp.top[0].second, lp.logprob);
    EXPECT_GE(lp.top[0].second, lp.top[1].second);
    EXPECT_GE(lp.top[1].second, lp.top[2].second);
  }
}

// With MTP drafts the log-probabilities come from the logits each token was verified against:
// the same tokens and numbers as plain decoding (greedy, so both decode the same text).
TEST(Scheduler, LogprobsWithDraftsEqualPlainDecoding) {
  const TextModel& tm = testing::tiny_text_model_mtp();
  GenerationJob job{
      .prompt = prompt_of("the cat sat"), .max_new_tokens = 12, .stop_at_eos = false, .top_logprobs = 2};
  job.sampling.temperature = 0;
  std::vector<Collected> runs;
  for (int draft : {0, 2}) {
    SchedulerOptions options = small(1);
    options.draft = draft;
    Scheduler scheduler(tm.model(), tm.tokenizer(), options);
    runs.push_back(collect(*scheduler.submit(job)));
    if (draft > 0) {
      EXPECT_GT(scheduler.stats().mtp_draft_tokens, 0);
    }
  }
  ASSERT_EQ(runs[0].logprobs.size(), 12u);
  ASSERT_EQ(runs[1].logprobs.size(), 12u);
  EXPECT_EQ(runs[1].text, runs[0].text);
  for (size_t i = 0; i < 12; ++i) {
    const TokenLogprob &a = runs[0].logprobs[i], &b = runs[1].logprobs[i];
    EXPECT_EQ(b.id, a.id) << i;
    EXPECT_NEAR(b.logprob, a.logprob, 1e-4) << i;
    ASSERT_EQ(b.top.size(), a.top.size());
    for (size_t k = 0; k < a.top.size(); ++k) {
      EXPECT_EQ(b.top[k].first, a.top[k].first) << i << " " << k;
      EXPECT_NEAR(b.top[k].second, a.top[k].second, 1e-4) << i << " " << k;
    }
  }
}

TEST(Scheduler, CancelFreesTheSequence) {
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(1, 0));
  GenerationJob job{.prompt = prompt_of("the cat"), .max_new_tokens = 100000, .stop_at_eos = false};
  auto channel = scheduler.submit(job);
  ASSERT_NE(channel, nullptr);
  EXPECT_EQ(scheduler.submit(job), nullptr) << "one sequence, no queue: the second is refused";
  (void)channel->take(std::chrono::milliseconds(200));
  channel->cancel();
  const Collected rest = collect(*channel);
  EXPECT_EQ(rest.last.finish, FinishReason::kCancelled);
  EXPECT_EQ(scheduler.stats().running, 0);
  EXPECT_EQ(scheduler.stats().requests_cancelled, 1);
  job.max_new_tokens = 3;
  auto again = scheduler.submit(job);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(collect(*again).last.completion_tokens, 3);
}

TEST(Scheduler, QueueBoundAndShutdown) {
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(1, 2));
  GenerationJob job{.prompt = prompt_of("x"), .max_new_tokens = 100000, .stop_at_eos = false};
  std::vector<std::shared_ptr<JobChannel>> accepted;
  for (int i = 0; i < 3; ++i) accepted.push_back(scheduler.submit(job));
  for (const auto& c : accepted) ASSERT_NE(c, nullptr);
  EXPECT_EQ(scheduler.submit(job), nullptr);
  scheduler.shutdown();
  for (const auto& c : accepted) EXPECT_EQ(collect(*c).last.finish, FinishReason::kCancelled);
  EXPECT_EQ(scheduler.submit(job), nullptr);
}

TEST(Scheduler, CancelledWhileQueuedGivesItsPlaceUp) {
  // A long context, so the running job cannot end by itself during the test.
  SchedulerOptions options = small(1, 1);
  options.context = testing::kLongContext;
  const TextModel& tm = testing::tiny_text_model_long();
  Scheduler scheduler(tm.model(), tm.tokenizer(), options);
  GenerationJob job{.prompt = prompt_of("x"), .max_new_tokens = 100000, .stop_at_eos = false};
  auto running = scheduler.submit(job);
  auto waiting = scheduler.submit(job);
  ASSERT_NE(running, nullptr);
  ASSERT_NE(waiting, nullptr);
  ASSERT_EQ(scheduler.submit(job), nullptr);
  waiting->cancel();
  EXPECT_EQ(collect(*waiting).last.finish, FinishReason::kCancelled);
  EXPECT_EQ(collect(*waiting).last.completion_tokens, 0);
  auto next = scheduler.submit(job);
  EXPECT_NE(next, nullptr) << "the cancelled request still holds its place in the queue";
  running->cancel();
}

TEST(Scheduler, CheckRefusesWhatCannotRun) {
  Scheduler scheduler(tiny_text_model().model(), tiny_text_model().tokenizer(), small(1));
  GenerationJob job{.prompt = {}};
  EXPECT_FALSE(scheduler.check(job).ok());
  job.prompt.assign(testing::kTestContext + 1, 5);
  EXPECT_NE(scheduler.check(job).error().message.find("context"), std::string::npos);
  job.prompt = {5, 99999};
  EXPECT_NE(scheduler.check(job).error().message.find("99999"), std::string::npos);
  job.prompt = {5};
  job.sampling.top_p = 0;
  EXPECT_NE(scheduler.check(job).error().message.find("top_p"), std::string::npos);
  job.sampling.top_p = 1;
  job.prompt.assign(testing::kTestContext, 5);  // fills the context: one token can follow
  EXPECT_TRUE(scheduler.check(job).ok());
  const Collected c = collect(*scheduler.submit(job));
  EXPECT_EQ(c.last.completion_tokens, 1);
}

}  // namespace
}  // namespace dsv3::server
