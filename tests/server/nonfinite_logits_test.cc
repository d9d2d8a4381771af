// A model whose logits go non-finite must never have tokens sampled from them: the batched
// scheduler ends such a job with an error naming the cause, and the HTTP answer is a 500 (or,
// when output already went out, an error object that ends the body).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/session.h"
#include "engine/speculative.h"
#include "server/harness.h"
#include "server/scheduler.h"
#include "support/nan_checkpoint.h"

namespace dsv3::server {
namespace {

namespace fs = std::filesystem;
using testing::json;

constexpr const char* kNonFinite = "produced a non-finite logit";

std::unique_ptr<TextModel> load_from(const std::string& dir, bool mtp = false) {
  auto m = TextModel::load(dir, testing::tiny_tokenizer_dir(),
                           ModelOptions{.max_positions = testing::kTestContext, .load_mtp = mtp});
  EXPECT_TRUE(m.ok()) << m.error().message;
  return std::move(m).value();
}

// A checkpoint copy that lives as long as the test.
struct BrokenCheckpoint {
  fs::path dir;
  std::unique_ptr<TextModel> model;
  BrokenCheckpoint(const std::string& name, const std::string& tensor, bool mtp = false,
                   int64_t row = -1)
      : dir(testing::nan_checkpoint_dir(name)) {
    model = load_from(testing::nan_checkpoint(dir, tensor, row), mtp);
  }
  ~BrokenCheckpoint() {
    model.reset();
    fs::remove_all(dir);
  }
};

JobOutput run_to_end(JobChannel& channel, std::string* text = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    JobOutput out = channel.take(std::chrono::milliseconds(1000));
    if (text) *text += out.text;
    if (out.done) return out;
  }
  ADD_FAILURE() << "the job did not finish";
  return {};
}

GenerationJob job_of(const TextModel& m, const std::string& prompt, int64_t max_new_tokens = 8) {
  GenerationJob job{.prompt = m.encode_prompt(prompt).value(), .max_new_tokens = max_new_tokens};
  job.sampling.temperature = 0.8f;
  return job;
}

TEST(NonFiniteLogits, SchedulerEndsTheJobWithTheCause) {
  BrokenCheckpoint nan("dsv3_server_nan", testing::kMainNormTensor);
  Scheduler scheduler(nan.model->model(), nan.model->tokenizer(),
                      {.parallel = 2, .context = testing::kTestContext, .prefill_chunk = 16});
  // Two at once (one batch), with a prompt longer than a prefill chunk.
  auto a = scheduler.submit(job_of(*nan.model, "the cat"));
  auto b = scheduler.submit(job_of(*nan.model, std::string(60, 'x')));
  ASSERT_TRUE(a && b);
  for (auto* channel : {a.get(), b.get()}) {
    std::string text;
    const JobOutput out = run_to_end(*channel, &text);
    EXPECT_NE(out.error.find(kNonFinite), std::string::npos) << out.error;
    EXPECT_EQ(text, "") << "nothing is sampled from NaN logits";
    EXPECT_EQ(out.completion_tokens, 0);
  }
  const SchedulerStats s = scheduler.stats();
  EXPECT_EQ(s.requests_failed, 2);
  EXPECT_EQ(s.requests_finished, 0);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.generated_tokens, 0);
}

TEST(NonFiniteLogits, SchedulerRefusesDraftsFromABrokenMtpLayer) {
  BrokenCheckpoint nan("dsv3_server_nan_mtp", testing::kMtpHeadNormTensor, /*mtp=*/true);
  {
    Scheduler drafting(nan.model->model(), nan.model->tokenizer(),
                       {.parallel = 1, .context = testing::kTestContext, .draft = 2});
    auto job = drafting.submit(job_of(*nan.model, "the cat"));
    ASSERT_TRUE(job);
    const JobOutput out = run_to_end(*job);
    EXPECT_NE(out.error.find(std::string("the MTP layer's forward pass ") + kNonFinite),
              std::string::npos)
        << out.error;
    EXPECT_EQ(drafting.stats().requests_failed, 1);
  }
  // The main model is intact: without drafts the same request runs to its end.
  Scheduler plain(nan.model->model(), nan.model->tokenizer(),
                  {.parallel = 1, .context = testing::kTestContext});
  auto job = plain.submit(job_of(*nan.model, "the cat"));
  ASSERT_TRUE(job);
  const JobOutput out = run_to_end(*job);
  EXPECT_EQ(out.error, "");
  EXPECT_EQ(out.completion_tokens, 8);
}

// generate and chat decode through TokenDecoder::step(), which returns the same error.
TEST(NonFiniteLogits, DecoderStepRefusesDraftsFromABrokenMtpLayer) {
  BrokenCheckpoint nan("dsv3_step_nan_mtp", testing::kMtpHeadNormTensor, /*mtp=*/true);
  Session session(nan.model->model(), SessionOptions{.context = 64, .mtp = true});
  ASSERT_TRUE(session.append(std::vector<int32_t>{5, 17, 33}).ok());
  Sampler sampler(SamplingParams{.temperature = 0});
  TokenDecoder decoder(session, sampler, /*draft=*/2);
  auto r = decoder.step(4);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(std::string("the MTP layer's forward pass ") + kNonFinite),
            std::string::npos)
      << r.error().message;
  TokenDecoder plain(session, sampler, /*draft=*/0);
  EXPECT_TRUE(plain.step(4).ok()) << "the main model is intact";
}

TEST(NonFiniteLogits, HttpAnswersAreServerErrorsNamingTheCause) {
  BrokenCheckpoint nan("dsv3_http_nan", testing::kMainNormTensor);
  testing::RunningServer server(testing::test_options(), *nan.model);
  auto c = server.client();
  const json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 4}};
  for (const bool stream : {false, true}) {
    json body = chat;
    body["stream"] = stream;
    const auto r = testing::post_json(c, "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 500) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "model_error") << r.raw;
    EXPECT_EQ(r.body["error"]["type"], "server_error") << r.raw;
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(kNonFinite), std::string::npos)
        << r.raw;
  }
  // Every choice of n > 1 fails alike, and the answer is one error.
  const auto r = testing::post_json(c, "/v1/completions",
                                    json{{"prompt", "abc"}, {"max_tokens", 4}, {"n", 3}});
  EXPECT_EQ(r.status, 500) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "model_error") << r.raw;
  // The server goes on answering, and counts the failures.
  EXPECT_EQ(testing::get_json(c, "/health").status, 200);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string key = "\ndsv3_requests_failed_total ";
  const size_t at = metrics->body.find(key);
  ASSERT_NE(at, std::string::npos) << metrics->body;
  // The two chat jobs and the first choice at least; the other two choices fail too unless
  // they were still queued when the answer cancelled them.
  const double failed = std::stod(metrics->body.substr(at + key.size()));
  EXPECT_GE(failed, 3);
  EXPECT_LE(failed, 5);
}

// Only the token after the first generated one has a NaN embedding row: the first token goes
// out, then feeding the second gives NaN logits. The stream already said 200, so the error
// object is its last event (no [DONE]); the JSON answer is the error object alone.
TEST(NonFiniteLogits, FailureAfterOutputEndsTheBodyWithTheError) {
  const TextModel& intact = testing::tiny_text_model();
  const std::vector<int32_t> prompt = {5, 17, 33, 42};
  Session session(intact.model(), testing::kTestContext);
  ASSERT_TRUE(session.append(prompt).ok());
  const int32_t first = argmax(session.logits());
  ASSERT_EQ(std::find(prompt.begin(), prompt.end(), first), prompt.end())
      << "the prompt must not feed the broken row itself";
  BrokenCheckpoint nan("dsv3_http_nan_row", testing::kEmbeddingTensor, false, first);
  testing::RunningServer server(testing::test_options(), *nan.model);
  auto c = server.client();
  // logprobs: the first token goes out even when its text is not whole UTF-8 yet.
  const json body = {{"prompt", prompt}, {"max_tokens", 4}, {"temperature", 0},
                     {"logprobs", 1}, {"stream", true}};
  auto res = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const std::string& events = res->body;
  const size_t error_at = events.find("data: {\"error\"");
  ASSERT_NE(error_at, std::string::npos) << events;
  EXPECT_NE(events.find("\"choices\""), std::string::npos) << "the first token went out";
  EXPECT_LT(events.find("\"choices\""), error_at);
  EXPECT_NE(events.find(kNonFinite, error_at), std::string::npos) << events;
  EXPECT_EQ(events.find("[DONE]"), std::string::npos) << events;

  json plain = body;
  plain["stream"] = false;
  const auto r = testing::post_json(c, "/v1/completions", plain);
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "model_error") << r.raw;
}

}  // namespace
}  // namespace dsv3::server
