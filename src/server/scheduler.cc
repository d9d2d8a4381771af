#include "server/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "engine/stop.h"
#include "tokenizer/stream_decoder.h"

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
  pending_ = JobOutput{.done = out.done,
                       .finish = out.finish,
                       .prompt_tokens = out.prompt_tokens,
                       .cached_tokens = out.cached_tokens,
                       .completion_tokens = out.completion_tokens};
  fresh_ = false;
  return out;
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

void JobChannel::finish(FinishReason reason, int64_t completion_tokens) {
  {
    std::lock_guard lock(mu_);
    pending_.done = true;
    pending_.finish = reason;
    pending_.completion_tokens = completion_tokens;
    fresh_ = true;
  }
  cv_.notify_all();
}

// ---- Scheduler -------------------------------------------------------------------------------

// One sequence of the batch: a KV cache and, while a request runs on it, that request's
// sampler, detokenizer and stop matcher.
struct Scheduler::Slot {
  KvCache cache;
  std::vector<int32_t> tokens;      // what the cache holds: positions [0, cache.length())
  std::vector<float> logits;        // [vocab]: the distribution after the last token fed
  std::shared_ptr<JobChannel> job;  // null while the slot is free
  uint64_t admitted = 0;            // admission order: prompts are prefilled first come first
  size_t prompt_fed = 0;
  int64_t generated = 0;
  int32_t next = -1;  // the token sampled last, fed at the next step
  std::optional<Sampler> sampler;
  std::optional<StreamDecoder> decoder;
  std::optional<StopMatcher> stops;

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
  for (int64_t i = 0; i < options.parallel; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->cache = model.new_cache(options.context);
    slot->logits.resize(model.config().vocab_size);
    slots_.push_back(std::move(slot));
  }
  stats_.parallel = options.parallel;
  stats_.context = slots_[0]->cache.capacity();
  stats_.kv_tokens_capacity = options.parallel * stats_.context;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

Status Scheduler::check(const GenerationJob& job) const {
  const int64_t context = slots_[0]->cache.capacity();
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
      const size_t common = common_prefix(slot->tokens, prompt);
      // On a tie, overwrite the smallest cache: a longer one may serve a later request.
      if (!best || common > best_common ||
          (common == best_common && slot->tokens.size() < best->tokens.size())) {
        best = slot.get();
        best_common = common;
      }
    }
    if (!best) return;
    queue_.pop_front();
    // The last prompt position is always fed: its logits give the first token.
    const size_t reuse = std::min(best_common, prompt.size() - 1);
    Slot& s = *best;
    s.cache.truncate(int64_t(reuse));
    s.tokens.resize(reuse);
    s.job = std::move(channel);
    s.admitted = admissions_++;
    s.prompt_fed = reuse;
    s.generated = 0;
    s.next = -1;
    const GenerationJob& job = s.request();
    s.sampler.emplace(job.sampling);
    s.decoder.emplace(tokenizer_, job.skip_special);
    s.stops.emplace(job.stop);
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
  int64_t decoding = 0;
  for (auto& slot : slots_) {
    if (!slot->job) continue;
    if (slot->prefilling()) {
      prefilling.push_back(slot.get());
      continue;
    }
    items.push_back({.tokens = std::span(&slot->next, 1),
                     .cache = &slot->cache,
                     .logits_out = slot->logits.data(),
                     .last_logits_only = true});
    owners.push_back(slot.get());
    ++decoding;
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
    items.push_back({.tokens = std::span(prompt).subspan(slot->prompt_fed, size_t(n)),
                     .cache = &slot->cache,
                     .logits_out = last ? slot->logits.data() : nullptr,
                     .last_logits_only = true});
    owners.push_back(slot);
    budget -= n;
    prefill += n;
  }
  if (items.empty()) {
    record_step(0, 0, 0, 0);
    return false;
  }

  model_.forward_batch(items, arena_);

  int64_t produced = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    Slot& slot = *owners[i];
    slot.tokens.insert(slot.tokens.end(), items[i].tokens.begin(), items[i].tokens.end());
    if (slot.prefilling()) slot.prompt_fed += items[i].tokens.size();
    if (items[i].logits_out) {
      produce_token(slot);
      ++produced;
    }
  }
  record_step(int64_t(items.size()), decoding + prefill, prefill, produced);
  return true;
}

// Samples the slot's next token from its logits and passes on the text it completes.
void Scheduler::produce_token(Slot& slot) {
  const GenerationJob& job = slot.request();
  const int32_t token = slot.sampler->sample(slot.logits, slot.tokens);
  ++slot.generated;
  std::optional<TokenLogprob> logprob;
  if (job.top_logprobs >= 0) {
    const std::vector<float>& l = slot.logits;
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
  if (job.stop_at_eos && token == tokenizer_.eos_id()) {
    slot.job->push("", lp);
    finish(slot, FinishReason::kStop, /*flush_text=*/true);
    return;
  }
  const StopMatcher::Step text = slot.stops->feed(slot.decoder->feed(token));
  slot.job->push(text.emit, lp);
  if (text.stopped) {
    finish(slot, FinishReason::kStop, /*flush_text=*/false);
  } else if (slot.generated == job.max_new_tokens) {
    finish(slot, FinishReason::kLength, true);
  } else if (slot.cache.length() >= slot.cache.capacity()) {
    finish(slot, FinishReason::kContextFull, true);
  } else {
    slot.next = token;
  }
}

// Ends the slot's job and frees the slot; its cache keeps the tokens for prefix reuse.
void Scheduler::finish(Slot& slot, FinishReason reason, bool flush_text) {
  if (flush_text) {  // what the decoder and the stop matcher still hold
    const StopMatcher::Step tail = slot.stops->feed(slot.decoder->flush());
    slot.job->push(tail.emit + (tail.stopped ? std::string() : slot.stops->flush()), nullptr);
  }
  // The counters change before the client hears of the end, so what it reads next agrees.
  --active_;
  {
    std::lock_guard lock(mu_);
    --occupied_;
  }
  {
    std::lock_guard lock(stats_mu_);
    --stats_.running;
    ++(reason == FinishReason::kCancelled ? stats_.requests_cancelled : stats_.requests_finished);
  }
  const std::shared_ptr<JobChannel> job = std::move(slot.job);
  slot.sampler.reset();
  slot.decoder.reset();
  slot.stops.reset();
  job->finish(reason, slot.generated);
}

void Scheduler::record_step(int64_t sequences, int64_t tokens, int64_t prefill, int64_t generated) {
  int64_t kv_used = 0;
  for (const auto& slot : slots_) kv_used += slot->job ? slot->cache.length() : 0;
  const auto now = Clock::now();
  std::lock_guard lock(stats_mu_);
  stats_.kv_tokens_used = kv_used;
  if (sequences == 0) return;
  ++stats_.steps;
  stats_.last_batch_sequences = sequences;
  stats_.last_batch_tokens = tokens;
  stats_.prefill_tokens += prefill;
  stats_.generated_tokens += generated;
  recent_.emplace_back(now, generated);
  while (!recent_.empty() && recent_.front().first < now - kRateWindow) recent_.pop_front();
}

}  // namespace dsv3::server
