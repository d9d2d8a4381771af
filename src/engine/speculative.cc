#include "engine/speculative.h"

#include <algorithm>
#include <chrono>

#include "model/logits_guard.h"

namespace dsv3 {

double MtpStats::acceptance(size_t position) const {
  return position < drafted.size() && drafted[position]
             ? double(accepted[position]) / double(drafted[position])
             : 0.0;
}

double MtpStats::tokens_per_forward() const {
  return main_forwards ? double(tokens) / double(main_forwards) : 0.0;
}

void MtpStats::add(const MtpStats& o) {
  drafted.resize(std::max(drafted.size(), o.drafted.size()));
  accepted.resize(drafted.size());
  for (size_t i = 0; i < o.drafted.size(); ++i) {
    drafted[i] += o.drafted[i];
    accepted[i] += o.accepted[i];
  }
  main_forwards += o.main_forwards;
  tokens += o.tokens;
}

namespace {
// Masks `logits` in place, counting the time it took.
void apply_timed(const structured::TokenConstraint& c, std::span<float> logits, ConstraintStats& stats) {
  const auto t0 = std::chrono::steady_clock::now();
  c.apply(logits);
  ++stats.masks;
  stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int32_t verify_draft(std::span<const float> p, std::span<const float> q, int32_t d, Sampler& sampler) {
  if (q[d] > 0 && sampler.uniform() * q[d] < p[d]) return -1;
  std::vector<float> residual(p.size());
  double total = 0;
  for (size_t i = 0; i < p.size(); ++i) total += residual[i] = std::max(0.0f, p[i] - q[i]);
  // p == q (within rounding) leaves nothing: then p itself is the right distribution.
  if (total <= 0) return sampler.draw(p);
  for (float& r : residual) r = float(r / total);
  return sampler.draw(residual);
}

TokenDecoder::TokenDecoder(Session& session, Sampler& sampler, int draft, bool adaptive_draft)
    : session_(session), sampler_(sampler),
      depth_(session.mtp_enabled() ? draft : 0, adaptive_draft) {
  if (session.mtp_enabled()) session.defer_mtp(false);  // whatever an earlier decoder left
}

void TokenDecoder::set_speculative(bool on) {
  speculative_ = on;
  if (session_.mtp_enabled()) session_.defer_mtp(!on);
}

Result<std::vector<int32_t>> TokenDecoder::step(int64_t budget) {
  const std::vector<int32_t>& feed = plan(budget);
  DSV3_TRY(draft_status_);
  if (needs_every_logit()) {
    DSV3_TRY(session_.append_all(feed));
  } else if (!feed.empty()) {
    DSV3_TRY(session_.append(feed));
  }
  return finish();
}

const std::vector<int32_t>& TokenDecoder::plan(int64_t budget) {
  feed_.clear();
  decided_.clear();
  drafted_.clear();
  q_.clear();
  feed_start_ = session_.length();
  token_logits_.clear();
  // Room for the next token plus drafts, both in the budget and in the context.
  const int64_t room = session_.capacity() - session_.length() - 1;
  const int64_t drafts = speculative_ ? std::min<int64_t>({depth_.depth(), budget - 1, room}) : 0;
  // The next token: decided by the previous step (already returned) or sampled now.
  std::optional<int32_t> next = pending_;
  pending_.reset();
  if (drafts <= 0) {  // plain decoding: feed the pending token, sample after the forward
    if (next) feed_.push_back(*next);
    return feed_;
  }
  if (!next) {
    next = sampler_.sample(constraint_ ? masked(session_.logits(), *constraint_) : session_.logits(),
                           session_.tokens());
    decided_.push_back(*next);
    decided(*next);
    if (keep_logits_) token_logits_.emplace_back(session_.logits().begin(), session_.logits().end());
  }
  // EOS under a constraint ends the output: nothing to draft, feed or verify.
  if (constraint_ && constraint_->ended()) return feed_;
  session_.catch_up_mtp();  // after plain steps that deferred it, in prompt-sized chunks
  draft_tokens(*next, drafts, drafted_, q_);
  feed_.push_back(*next);
  feed_.insert(feed_.end(), drafted_.begin(), drafted_.end());
  return feed_;
}

std::vector<int32_t> TokenDecoder::finish() {
  if (!feed_.empty()) ++stats_.main_forwards;
  std::vector<int32_t> out = !drafted_.empty() ? finish_speculative()
                             : !decided_.empty() ? decided_  // see plan(): EOS, nothing fed
                                                 : finish_plain();
  stats_.tokens += int64_t(out.size());
  return out;
}

std::span<const float> TokenDecoder::masked(std::span<const float> logits,
                                            const structured::TokenConstraint& c) {
  masked_.assign(logits.begin(), logits.end());
  apply_timed(c, masked_, constraint_stats_);
  return masked_;
}

void TokenDecoder::decided(int32_t token) {
  if (!constraint_) return;
  // The mask allowed it; a refusal would mean the sampler drew a -inf logit.
  const bool ok = constraint_->accept(token);
  DSV3_CHECK(ok, "token %d was decided but the output constraint forbids it", int(token));
}

std::vector<int32_t> TokenDecoder::finish_plain() {
  const int32_t next = sampler_.sample(
      constraint_ ? masked(session_.logits(), *constraint_) : session_.logits(), session_.tokens());
  decided(next);
  if (keep_logits_) token_logits_.emplace_back(session_.logits().begin(), session_.logits().end());
  pending_ = next;
  return {next};
}

void TokenDecoder::draft_tokens(int32_t t, int64_t drafts, std::vector<int32_t>& out,
                                std::vector<std::vector<float>>& q) {
  const Model& m = session_.model();
  const int64_t d = m.config().hidden_size, n = session_.length();
  KvCache& cache = session_.mtp_cache();
  // Slots [cache.length(), n): slot i reads token i+1 (t for the last one) and h_i.
  const int64_t first = cache.length();
  std::vector<int32_t> slot_tokens(session_.tokens().begin() + first + 1, session_.tokens().end());
  slot_tokens.push_back(t);
  logits_.resize(m.config().vocab_size);
  hidden_.resize((n - first) * d);
  history_ = session_.tokens();
  history_.push_back(t);
  m.mtp_forward({.tokens = slot_tokens, .hidden = session_.hidden_at(first), .cache = &cache,
                 .arena = &session_.arena(), .hidden_out = hidden_.data(),
                 .logits_out = logits_.data(), .last_logits_only = true});
  std::vector<float> g(hidden_.end() - d, hidden_.end());
  // Each draft is drawn under the constraint as it stands after t and the drafts before it.
  std::optional<structured::TokenConstraint> draft_constraint = constraint_;
  draft_constraints_.clear();
  for (int64_t j = 0; j < drafts; ++j) {
    if (j > 0) {  // re-apply the layer on its own output (depth > 1 drafting)
      const int32_t prev = out.back();
      m.mtp_forward({.tokens = std::span(&prev, 1), .hidden = g.data(), .cache = &cache,
                     .arena = &session_.arena(), .hidden_out = g.data(),
                     .logits_out = logits_.data(), .last_logits_only = true});
    }
    draft_status_ = check_logits_finite(logits_, m.config().vocab_size,
                                        "the MTP layer's forward pass");
    if (!draft_status_.ok()) break;
    q.emplace_back();
    if (draft_constraint) {
      apply_timed(*draft_constraint, logits_, constraint_stats_);
      draft_constraints_.push_back(*draft_constraint);
    }
    sampler_.distribution(logits_, history_, q.back());
    out.push_back(sampler_.draw(q.back()));
    history_.push_back(out.back());
    if (draft_constraint) {
      draft_constraint->accept(out.back());
      if (draft_constraint->ended()) break;  // nothing may follow EOS
    }
  }
  cache.truncate(n);  // chained slots used drafted inputs; only slots [0, n) are real
}

// Row j of the verify forward is the main model's distribution for draft j: accept drafts
// while rejection sampling keeps them; the first rejected one is replaced and becomes pending.
std::vector<int32_t> TokenDecoder::finish_speculative() {
  std::vector<int32_t> out = decided_;
  const int64_t n = feed_start_;  // the fed token went to position n
  stats_.drafted.resize(std::max<size_t>(stats_.drafted.size(), drafted_.size()));
  stats_.accepted.resize(stats_.drafted.size());
  const int64_t V = session_.model().config().vocab_size;
  int accepted = 0;
  for (size_t j = 0; j < drafted_.size(); ++j) {
    const auto row = session_.all_logits().subspan(j * V, V);
    if (keep_logits_) token_logits_.emplace_back(row.begin(), row.end());
    sampler_.distribution(constraint_ ? masked(row, draft_constraints_[j]) : row,
                          std::span(session_.tokens()).first(n + 1 + j), p_);
    ++stats_.drafted[j];
    const int32_t replacement = verify_draft(p_, q_[j], drafted_[j], sampler_);
    if (replacement < 0) {
      ++stats_.accepted[j];
      ++accepted;
      out.push_back(drafted_[j]);
      decided(drafted_[j]);
      continue;
    }
    session_.truncate(n + 1 + int64_t(j));  // drop draft j and after from the caches
    pending_ = replacement;
    out.push_back(replacement);
    decided(replacement);
    break;
  }
  depth_.record(int(drafted_.size()), accepted);
  return out;
}

}  // namespace dsv3
