// Continuous batching: one thread owns the model and runs it step by step. Each step is ONE
// Model::forward_batch over every running sequence (one token each) plus chunks of the
// prompts being prefilled, so every expert's weights are read once for all of them and a
// long new prompt does not stall the others. Requests join and leave the batch at token
// boundaries. KV caches are allocated up front (`parallel` caches of `context` positions)
// and reused; a cache keeps its tokens after its request ends, so a later request that
// starts the same way (the next turn of a chat) skips that prefix.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/generation.h"
#include "engine/sampler.h"
#include "engine/mtp_auto.h"
#include "engine/session.h"
#include "engine/speculative.h"
#include "model/transformer.h"
#include "structured/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::server {

struct SchedulerOptions {
  int64_t parallel = 4;         // sequences decoded together (one KV cache each)
  int64_t context = 4096;       // positions per sequence: prompt + generated tokens
  int64_t max_queue = 64;       // requests waiting for a free sequence before refusing more
  int64_t prefill_chunk = 256;  // prompt tokens fed per step, over all prefilling sequences
  // MTP drafts per decoding step (0: none). Needs a model loaded with its MTP layer; requests
  // that ask for log-probabilities decode without drafts.
  int draft = 0;
  bool adaptive_draft = false;  // `draft` is the most; each sequence's depth follows its acceptance
  // With `draft` >= 1: draft only while it is measured to be faster (`--mtp auto`). One
  // decision for the whole server: every sequence shares the batched forward whose cost is
  // measured, so the batch drafts or not as one (steps that prefill are not measured).
  bool mtp_auto = false;
};

// One request's generation, as the scheduler runs it.
struct GenerationJob {
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 0;  // 0: until the context is full
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;
  std::vector<int32_t> turn_end_tokens;  // end like EOS (a chat's turn markers)
  bool skip_special = true;   // special tokens produce no text
  int32_t top_logprobs = -1;  // -1: no log-probabilities; n: the sampled token's and n others
  // Structured output (response_format, strict tool arguments): every token stays in the
  // language where the plan applies it, and the job stops at EOS, which the constraint allows
  // once the JSON is whole. Null: free text.
  std::shared_ptr<const structured::OutputConstraint> constraint;
};

// Log-probabilities of one generated token under the model (log-softmax of its logits).
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // the most likely tokens, best first
};

// What a job produced since it was last asked.
struct JobOutput {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  bool done = false;
  FinishReason finish = FinishReason::kStop;
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;      // prompt tokens reused from a cache
  int64_t completion_tokens = 0;  // generated ids (EOS included)
  // Set (with done) when the model could not go on with the job, e.g. its logits were not
  // finite: why, for an error answer. The text and tokens before it are still delivered.
  std::string error;
};

// The link between a request's HTTP thread and the scheduler thread.
class JobChannel {
 public:
  // Waits until there is new output or `timeout` passes; takes what arrived.
  JobOutput take(std::chrono::milliseconds timeout);
  // Waits until the job has output or has ended, or `deadline` passes (takes nothing);
  // returns the error of a job that has failed by then without producing any output, ""
  // otherwise.
  std::string error_by(std::chrono::steady_clock::time_point deadline);
  // The client went away: the scheduler frees the job's sequence at the next step.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class Scheduler;
  void push(std::string_view text, TokenLogprob* logprob);
  void finish(FinishReason reason, int64_t completion_tokens, std::string error = "");

  GenerationJob job_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  JobOutput pending_;
  bool fresh_ = false;  // pending_ holds something not yet taken
  bool taken_ = false;  // take() was called
};

// Counters and gauges for /metrics.
struct SchedulerStats {
  int64_t parallel = 0, context = 0;
  int64_t queued = 0, running = 0;
  int64_t kv_tokens_used = 0, kv_tokens_capacity = 0;
  int64_t requests_finished = 0, requests_cancelled = 0;
  int64_t requests_failed = 0;  // ended by a model failure (non-finite logits)
  int64_t prompt_tokens = 0;   // prompt tokens of admitted requests
  int64_t prefill_tokens = 0;  // prompt tokens actually computed (the rest came from caches)
  int64_t generated_tokens = 0;
  int64_t steps = 0;
  int64_t last_batch_sequences = 0, last_batch_tokens = 0;
  double generated_tokens_per_s = 0;                      // over the last few seconds
  int64_t mtp_draft_tokens = 0, mtp_accepted_tokens = 0;  // 0 until speculative decoding
  std::optional<MtpAutoReport> mtp_auto;  // with options.mtp_auto: the current choice
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  const SchedulerOptions& options() const { return options_; }

  // Whether the scheduler can run `job`: a non-empty prompt that leaves room for one token,
  // ids in the vocabulary, valid sampling parameters.
  Status check(const GenerationJob& job) const;
  // Queues a checked job; nullptr when all sequences are busy and the queue is full, or
  // after shutdown().
  std::shared_ptr<JobChannel> submit(GenerationJob job);
  // Stops the thread; every unfinished job ends with FinishReason::kCancelled.
  void shutdown();

  SchedulerStats stats() const;

  // The constraint for a grammar over this server's vocabulary. Requests with the same `key`
  // (the same schema) share one, and so its cache of token masks; the last few are kept.
  std::shared_ptr<const structured::CompiledConstraint> constraint_for(
      const std::string& key, const structured::Grammar& grammar);

 private:
  struct Slot;
  void loop();
  void admit_locked();
  void reap_cancelled();
  bool step();
  // Whether the logits a batch item asked for are finite.
  Status check_item_logits(const BatchItem& item) const;
  // Adds the slot's next decode feed to the batch; a plain decoder first decides its token
  // from the logits it already has.
  void plan_decode(Slot& slot);
  void decide_tokens(Slot& slot);
  // `logits`: what the token was sampled or verified from (for its log-probability).
  void emit_token(Slot& slot, int32_t token, std::span<const float> logits);
  // `error`: the job failed (JobOutput::error).
  void finish(Slot& slot, FinishReason reason, bool flush_text, const std::string& error = "");
  // Ends the slot's job with an error (the model failed on it) and forgets its cache.
  void fail(Slot& slot, const Error& error);
  void record_step(int64_t sequences, int64_t tokens, int64_t prefill);

  const Model& model_;
  const Tokenizer& tokenizer_;
  const SchedulerOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;  // touched only by the scheduler thread
  Arena arena_;
  uint64_t admissions_ = 0;
  int64_t active_ = 0;  // slots running a job
  // Scratch reused by every step, so a steady decode loop does not allocate.
  std::vector<BatchItem> step_items_;
  std::vector<Slot*> step_owners_, step_prefilling_;
  int64_t step_decode_tokens_ = 0;
  int64_t step_decided_tokens_ = 0;  // tokens the decoders decided in this step
  std::optional<MtpAuto> mtp_auto_;
  // Whether this step's decoders all ran as mtp_auto_ asked (none ran short of drafts).
  bool step_as_asked_ = true;
  std::vector<int32_t> order_;  // for top log-probabilities

  mutable std::mutex mu_;  // guards queue_, stopping_, occupied_
  std::condition_variable cv_;
  std::deque<std::shared_ptr<JobChannel>> queue_;
  bool stopping_ = false;
  int64_t occupied_ = 0;  // jobs queued or running

  mutable std::mutex stats_mu_;
  SchedulerStats stats_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> recent_;  // (step, tokens)

  std::mutex constraints_mu_;  // guards trie_ and constraints_
  std::shared_ptr<const structured::TokenTrie> trie_;  // built at the first constrained request
  std::deque<std::pair<std::string, std::shared_ptr<const structured::CompiledConstraint>>> constraints_;

  std::thread thread_;
};

}  // namespace dsv3::server
