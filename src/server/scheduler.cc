#include "server/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "engine/token_output.h"
#include "model/logits_guard.h"

namespace dsv3::server {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kRateWindow = std::chrono::seconds(10);  // tokens/s is averaged over this

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}
}  // namespace

// ---- JobChannel ------------------------------------------------------------------------------

JobOutput JobChannel::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return fresh_; });
  JobOutput out = std::move(pending_);
  taken_ = true;
  pending_ = JobOutput{.done = out.done,
                       .finish = out.finish,
                       .prompt_tokens = out.prompt_tokens,
                       .cached_tokens = out.cached_tokens,
                       .completion_tokens = out.completion_tokens,
                       .error = out.error};
  fresh_ = false;
  return out;
}

std::string JobChannel::error_by(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return fresh_; });
  const bool nothing_out = pending_.text.empty() && pending_.logprobs.empty() && !taken_;
  return pending_.done && nothing_out ? pending_.error : std::string();
}

void JobChannel::push(std::string_view text, TokenLogprob* logprob) {
  if (text.empty() && !logprob) return;
  {
    std::lock_guard lock(mu_);
    pending_.text += text;
    if (logprob) pending_.logprobs.push_back(std::move(*logprob));
    fresh_ = true;
  }
  cv_.notify_all();
}

void JobChannel::finish(FinishReason reason, int64_t completion_tokens, std::string error) {
  {
    std::lock_guard lock(mu_);
    pending_.done = true;
    pending_.error = std::move(error);
    pending_.finish = reason;
    pending_.completion_tokens = completion_tokens;
    fresh_ = true;
  }
  cv_.notify_all();
}

// ---- Scheduler -------------------------------------------------------------------------------

// One sequence of the batch: a session (KV caches, and what MTP drafting reads) and, while a
// request runs on it, that request's sampler, token decoder (plain or speculative),
// detokenizer and stop matcher.
struct Scheduler::Slot {
  std::optional<Session> session;   // holds its tokens: positions [0, length())
  std::shared_ptr<JobChannel> job;  // null while the slot is free
  uint64_t admitted = 0;            // admission order: prompts are prefilled first come first
  size_t prompt_fed = 0;
  int64_t generated = 0;
  std::optional<Sampler> sampler;
  std::optional<TokenDecoder> decoder;
  std::optional<TokenOutput> output;  // text, stop strings, EOS and the token limit
  int64_t reported_drafted = 0, reported_accepted = 0;  // MTP counts already in the stats
  bool decode_planned = false;  // this step feeds the decoder's plan

  const GenerationJob& request() const { return job->job_; }
  bool prefilling() const { return prompt_fed < request().prompt.size(); }
};

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer,
                     const SchedulerOptions& options)
    : model_(model), tokenizer_(tokenizer), options_(options) {
  DSV3_CHECK(options.parallel > 0 && options.context > 0 && options.max_queue >= 0 &&
                 options.prefill_chunk > 0,
             "scheduler options: parallel %ld, context %ld, queue %ld, prefill chunk %ld",
             long(options.parallel), long(options.context), long(options.max_queue),
             long(options.prefill_chunk));
  DSV3_CHECK(options.draft == 0 || model.mtp_depth() > 0,
             "MTP drafting needs a model loaded with its MTP layer");
  for (int64_t i = 0; i < options.parallel; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->session.emplace(model, SessionOptions{.context = options.context,
                                                .mtp = options.draft > 0});
    slots_.push_back(std::move(slot));
  }
  if (options.mtp_auto && options.draft > 0) mtp_auto_.emplace();
  stats_.parallel = options.parallel;
  stats_.context = slots_[0]->session->capacity();
  stats_.kv_tokens_capacity = options.parallel * stats_.context;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

Status Scheduler::check(const GenerationJob& job) const {
  const int64_t context = slots_[0]->session->capacity();
  if (job.prompt.empty()) return Err("the prompt is empty");
  if (int64_t(job.prompt.size()) > context) {
    return Err("the prompt has ", job.prompt.size(), " tokens but the context holds ", context,
               " (the server's --ctx)");
  }
  if (job.max_new_tokens < 0) return Err("max_new_tokens is negative");
  DSV3_TRY(check_tokens(model_.config(), job.prompt));
  return validate(job.sampling);
}

std::shared_ptr<JobChannel> Scheduler::submit(GenerationJob job) {
  DSV3_CHECK(check(job).ok(), "submit() of a job that check() refuses");
  auto channel = std::make_shared<JobChannel>();
  channel->job_ = std::move(job);
  {
    std::lock_guard lock(mu_);
    if (stopping_ || occupied_ >= options_.parallel + options_.max_queue) return nullptr;
    ++occupied_;
    queue_.push_back(channel);
  }
  cv_.notify_all();
  return channel;
}

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  {
    std::lock_guard lock(stats_mu_);
    s = stats_;
    int64_t recent = 0;
    const auto since = Clock::now() - kRateWindow;
    for (const auto& [t, n] : recent_) recent += t >= since ? n : 0;
    s.generated_tokens_per_s = double(recent) / std::chrono::duration<double>(kRateWindow).count();
  }
  std::lock_guard lock(mu_);
  s.queued = int64_t(queue_.size());
  return s;
}

std::shared_ptr<const structured::CompiledConstraint> Scheduler::constraint_for(
    const std::string& key, const structured::Grammar& grammar) {
  constexpr size_t kKept = 16;
  std::lock_guard lock(constraints_mu_);
  for (auto it = constraints_.begin(); it != constraints_.end(); ++it) {
    if (it->first != key) continue;
    auto found = *it;  // most recently used goes to the front
    constraints_.erase(it);
    constraints_.push_front(found);
    return found.second;
  }
  if (!trie_) trie_ = structured::TokenTrie::build(tokenizer_);
  auto c = std::make_shared<const structured::CompiledConstraint>(grammar, trie_);
  constraints_.emplace_front(key, c);
  if (constraints_.size() > kKept) constraints_.pop_back();
  return c;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty() || active_ > 0; });
      if (stopping_) break;
      admit_locked();
    }
    reap_cancelled();
    step();
  }
  for (auto& slot : slots_) {
    if (slot->job) finish(*slot, FinishReason::kCancelled, /*flush_text=*/false);
  }
  std::lock_guard lock(mu_);
  for (auto& channel : queue_) channel->finish(FinishReason::kCancelled, 0);
  queue_.clear();
  occupied_ = 0;
}

// Moves queued jobs into free slots, each into the slot whose cache shares the longest prefix
// with its prompt. Called with mu_ held.
void Scheduler::admit_locked() {
  // Clients that went away while waiting give their place up at once.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!(*it)->cancelled()) {
      ++it;
      continue;
    }
    --occupied_;
    {
      std::lock_guard stats_lock(stats_mu_);
      ++stats_.requests_cancelled;
    }
    (*it)->finish(FinishReason::kCancelled, 0);
    it = queue_.erase(it);
  }
  while (!queue_.empty()) {
    std::shared_ptr<JobChannel> channel = queue_.front();
    const std::vector<int32_t>& prompt = channel->job_.prompt;
    Slot* best = nullptr;
    size_t best_common = 0;
    for (auto& slot : slots_) {
      if (slot->job) continue;
      const size_t common = common_prefix(slot->session->tokens(), prompt);
      // On a tie, overwrite the smallest cache: a longer one may serve a later request.
      if (!best || common > best_common ||
          (common == best_common && slot->session->length() < best->session->length())) {
        best = slot.get();
        best_common = common;
      }
    }
    if (!best) return;
    queue_.pop_front();
    // The last prompt position is always fed: its logits give the first token.
    const size_t reuse = std::min(best_common, prompt.size() - 1);
    Slot& s = *best;
    s.session->truncate(int64_t(reuse));
    s.job = std::move(channel);
    s.admitted = admissions_++;
    s.prompt_fed = reuse;
    s.generated = 0;
    s.reported_drafted = s.reported_accepted = 0;
    const GenerationJob& job = s.request();
    s.sampler.emplace(job.sampling);
    s.decoder.emplace(*s.session, *s.sampler, options_.draft, options_.adaptive_draft);
    // The prompt's MTP work waits, like every plain step's, while the batch does not draft.
    if (mtp_auto_) {
      s.decoder->set_speculative(mtp_auto_->next() == DecodeMode::kSpeculative ||
                                 !job.sampling.greedy());
    }
    // Log-probabilities come from the logits each token was sampled or verified from.
    s.decoder->keep_logits(job.top_logprobs >= 0);
    if (job.constraint) s.decoder->set_constraint(structured::TokenConstraint(job.constraint));
    s.output.emplace(tokenizer_, TokenOutputOptions{.stop = job.stop,
                                                    .stop_at_eos = job.stop_at_eos || job.constraint,
                                                    .turn_end_tokens = job.turn_end_tokens,
                                                    .skip_special = job.skip_special,
                                                    .max_new_tokens = job.max_new_tokens});
    {
      std::lock_guard job_lock(s.job->mu_);
      s.job->pending_.prompt_tokens = int64_t(prompt.size());
      s.job->pending_.cached_tokens = int64_t(reuse);
    }
    ++active_;
    std::lock_guard stats_lock(stats_mu_);
    ++stats_.running;
    stats_.prompt_tokens += int64_t(prompt.size());
  }
}

void Scheduler::reap_cancelled() {
  for (auto& slot : slots_) {
    if (slot->job && slot->job->cancelled()) finish(*slot, FinishReason::kCancelled, false);
  }
}

bool Scheduler::step() {
  std::vector<BatchItem>& items = step_items_;
  std::vector<Slot*>& owners = step_owners_;
  std::vector<Slot*>& prefilling = step_prefilling_;
  items.clear();
  owners.clear();
  prefilling.clear();
  step_decode_tokens_ = step_decided_tokens_ = 0;
  step_as_asked_ = true;
  const auto step_start = Clock::now();
  const bool speculate = !mtp_auto_ || mtp_auto_->next() == DecodeMode::kSpeculative;
  for (auto& slot : slots_) {
    if (!slot->job) continue;
    slot->decode_planned = false;
    if (slot->prefilling()) {
      prefilling.push_back(slot.get());
    } else {
      // A sampled sequence always drafts (its text must not depend on timing: a seed gives
      // the same text); only greedy ones follow the batch's measured choice.
      if (mtp_auto_) slot->decoder->set_speculative(speculate || !slot->request().sampling.greedy());
      plan_decode(*slot);
      if (slot->decode_planned && slot->decoder->drafted() != speculate) step_as_asked_ = false;
    }
  }
  // Prompts share a budget per step, oldest first, so decoding sequences keep their pace.
  std::sort(prefilling.begin(), prefilling.end(),
            [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
  int64_t budget = options_.prefill_chunk, prefill = 0;
  for (Slot* slot : prefilling) {
    const auto& prompt = slot->request().prompt;
    const int64_t n = std::min<int64_t>(budget, int64_t(prompt.size() - slot->prompt_fed));
    if (n <= 0) break;
    const bool last = slot->prompt_fed + size_t(n) == prompt.size();
    items.push_back(slot->session->batch_item(
        std::span(prompt).subspan(slot->prompt_fed, size_t(n)), false, last));
    owners.push_back(slot);
    budget -= n;
    prefill += n;
  }
  if (items.empty()) {
    record_step(0, 0, 0);
    return false;
  }

  model_.forward_batch(items, arena_);

  for (size_t i = 0; i < items.size(); ++i) {
    Slot& slot = *owners[i];
    const bool every = slot.decode_planned && slot.decoder->needs_every_logit();
    slot.session->batch_done(items[i].tokens, every);
    // Nothing is sampled from, or reported out of, logits that are not finite.
    if (Status s = check_item_logits(items[i]); !s.ok()) {
      fail(slot, s.error());
      continue;
    }
    if (slot.decode_planned) {
      decide_tokens(slot);
    } else {
      slot.prompt_fed += items[i].tokens.size();
    }
  }
  // A step that prefilled measures the prompt too; one that could not draft, nothing.
  if (mtp_auto_ && prefill == 0 && step_decode_tokens_ > 0 && step_as_asked_) {
    mtp_auto_->record(std::chrono::duration<double>(Clock::now() - step_start).count(),
                      step_decided_tokens_);
  }
  record_step(int64_t(items.size()), step_decode_tokens_ + prefill, prefill);
  return true;
}

Status Scheduler::check_item_logits(const BatchItem& item) const {
  if (!item.logits_out) return OkStatus();
  const int64_t vocab = model_.config().vocab_size;
  const size_t rows = item.last_logits_only ? 1 : item.tokens.size();
  return check_logits_finite(std::span<const float>(item.logits_out, rows * size_t(vocab)), vocab,
                             "the forward pass");
}

void Scheduler::plan_decode(Slot& slot) {
  const GenerationJob& job = slot.request();
  const int64_t left = job.max_new_tokens > 0 ? job.max_new_tokens - slot.generated
                                              : slot.session->capacity();
  const std::vector<int32_t>* feed = &slot.decoder->plan(left);
  if (feed->empty()) {  // a plain decoder samples from the logits it has, then feeds that
    decide_tokens(slot);
    if (!slot.job) return;
    feed = &slot.decoder->plan(left - 1);
  }
  if (!slot.decoder->draft_status().ok()) {
    const Error error = slot.decoder->draft_status().error();  // fail() ends the decoder
    return fail(slot, error);
  }
  step_items_.push_back(slot.session->batch_item(*feed, slot.decoder->needs_every_logit(), true));
  step_owners_.push_back(&slot);
  step_decode_tokens_ += int64_t(feed->size());
  slot.decode_planned = true;
}

// The decoder's decision after the forward (or from the logits it had): each token in turn
// goes to the client until one of them ends the request.
void Scheduler::decide_tokens(Slot& slot) {
  const std::vector<int32_t> tokens = slot.decoder->finish();
  step_decided_tokens_ += int64_t(tokens.size());
  const MtpStats& mtp = slot.decoder->stats();
  int64_t drafted = 0, accepted = 0;
  for (size_t i = 0; i < mtp.drafted.size(); ++i) {
    drafted += mtp.drafted[i];
    accepted += mtp.accepted[i];
  }
  {
    std::lock_guard lock(stats_mu_);
    stats_.mtp_draft_tokens += drafted - slot.reported_drafted;
    stats_.mtp_accepted_tokens += accepted - slot.reported_accepted;
    stats_.generated_tokens += int64_t(tokens.size());
    recent_.emplace_back(Clock::now(), int64_t(tokens.size()));
  }
  slot.reported_drafted = drafted;
  slot.reported_accepted = accepted;
  const auto& logits = slot.decoder->token_logits();
  for (size_t i = 0; i < tokens.size(); ++i) {
    emit_token(slot, tokens[i], i < logits.size() ? std::span<const float>(logits[i]) : std::span<const float>());
    if (!slot.job) return;
  }
  // The next step feeds the last decided token: it needs a free position.
  if (slot.session->length() >= slot.session->capacity()) {
    finish(slot, FinishReason::kContextFull, true);
  }
}

// Passes on the text `token` completes (and its log-probability when asked for), ending the
// request at EOS, a stop string or its token limit.
void Scheduler::emit_token(Slot& slot, int32_t token, std::span<const float> l) {
  const GenerationJob& job = slot.request();
  ++slot.generated;
  std::optional<TokenLogprob> logprob;
  if (job.top_logprobs >= 0 && !l.empty()) {  // l: the logits this token was sampled from
    const float top = *std::max_element(l.begin(), l.end());
    double sum = 0;
    for (float x : l) sum += std::exp(double(x - top));
    const float log_z = top + float(std::log(sum));
    logprob = TokenLogprob{.id = token, .logprob = l[token] - log_z};
    const size_t k = std::min(size_t(job.top_logprobs), l.size());
    order_.resize(l.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&l](int32_t a, int32_t b) {
      return l[a] > l[b] || (l[a] == l[b] && a < b);
    });
    for (size_t i = 0; i < k; ++i) logprob->top.emplace_back(order_[i], l[order_[i]] - log_z);
  }
  TokenLogprob* lp = logprob ? &*logprob : nullptr;
  const TokenOutput::Step step = slot.output->accept(token);
  slot.job->push(step.emit, lp);
  if (step.finish) finish(slot, *step.finish, /*flush_text=*/false);
}

// Ends the slot's job and frees the slot; its cache keeps the tokens for prefix reuse.
void Scheduler::finish(Slot& slot, FinishReason reason, bool flush_text,
                       const std::string& error) {
  if (flush_text) slot.job->push(slot.output->flush(), nullptr);  // what is held back
  // The counters change before the client hears of the end, so what it reads next agrees.
  --active_;
  {
    std::lock_guard lock(mu_);
    --occupied_;
  }
  {
    std::lock_guard lock(stats_mu_);
    --stats_.running;
    ++(!error.empty()                         ? stats_.requests_failed
       : reason == FinishReason::kCancelled ? stats_.requests_cancelled
                                            : stats_.requests_finished);
  }
  const std::shared_ptr<JobChannel> job = std::move(slot.job);
  slot.decoder.reset();  // refers to the sampler
  slot.sampler.reset();
  slot.output.reset();
  job->finish(reason, slot.generated, error);
}

void Scheduler::fail(Slot& slot, const Error& error) {
  slot.session->reset();  // what it computed is not to be reused by a later request
  finish(slot, FinishReason::kStop, /*flush_text=*/false, error.message);
}

// Generated tokens are counted as they are decided (decide_tokens).
void Scheduler::record_step(int64_t sequences, int64_t tokens, int64_t prefill) {
  int64_t kv_used = 0;
  for (const auto& slot : slots_) kv_used += slot->job ? slot->session->length() : 0;
  const auto now = Clock::now();
  std::lock_guard lock(stats_mu_);
  stats_.kv_tokens_used = kv_used;
  if (mtp_auto_) stats_.mtp_auto = mtp_auto_->report();
  if (sequences == 0) return;
  ++stats_.steps;
  stats_.last_batch_sequences = sequences;
  stats_.last_batch_tokens = tokens;
  stats_.prefill_tokens += prefill;
  while (!recent_.empty() && recent_.front().first < now - kRateWindow) recent_.pop_front();
}

}  // namespace dsv3::server
