// Decoding with the MTP layer as a draft model (DeepSeek-V3 report section 2.2; spec/mtp.md):
// the MTP layer drafts the token after next from the main model's last hidden state, one main
// forward over [next token, drafts] verifies them all, and the accepted prefix is kept.
// Rejection sampling keeps the output distribution exactly the main model's; with greedy
// settings the output is the plain greedy output.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "engine/draft_depth.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "structured/token_mask.h"

namespace dsv3 {

struct MtpStats {
  std::vector<int64_t> drafted, accepted;  // per draft position (0 = first draft)
  int64_t main_forwards = 0;  // decode forwards of the main model
  int64_t tokens = 0;         // tokens those forwards produced
  double acceptance(size_t position) const;
  double tokens_per_forward() const;
  void add(const MtpStats& other);
};

// What constrained decoding cost: masks computed or taken from the cache and applied.
struct ConstraintStats {
  int64_t masks = 0;
  double seconds = 0;
  double micros_per_mask() const { return masks ? seconds * 1e6 / double(masks) : 0.0; }
};

// Speculative sampling's rule (Leviathan et al. 2023, Chen et al. 2023): accept draft `d`
// (drawn from q) with probability min(1, p(d) / q(d)); otherwise return a token drawn from
// norm(max(0, p - q)). Returns -1 when d is accepted.
int32_t verify_draft(std::span<const float> p, std::span<const float> q, int32_t d, Sampler& sampler);

// Produces a sequence's tokens step by step, with or without MTP drafts.
// The session always holds every decided token except possibly the last one ("pending"),
// which is fed by the next step.
class TokenDecoder {
 public:
  // draft = 0: plain decoding. draft >= 1: drafts per step (needs session.mtp_enabled());
  // with `adaptive_draft` the most per step, the depth following the acceptance (DraftDepth).
  TokenDecoder(Session& session, Sampler& sampler, int draft, bool adaptive_draft = false);

  // Decides the next token(s), at most `budget` of them (drafting shortens to fit).
  Result<std::vector<int32_t>> step(int64_t budget);

  // step() in two halves, for callers that run the main forward together with other
  // sequences (the server's batch): plan() returns the tokens to feed next (none: finish()
  // needs no forward); the caller appends them to the session, keeping every token's logits
  // when needs_every_logit(); then finish() returns the decided tokens. The caller checks
  // that the fed tokens fit in the context.
  const std::vector<int32_t>& plan(int64_t budget);
  bool needs_every_logit() const { return !drafted_.empty(); }
  std::vector<int32_t> finish();

  // With keep_logits(true), finish() / step() also keep the main model's logits each returned
  // token was sampled (or verified) from, one row per token in order: what log-probabilities
  // are reported from, drafts or not.
  void keep_logits(bool on) { keep_logits_ = on; }
  const std::vector<std::vector<float>>& token_logits() const { return token_logits_; }

  // Every token decided from now on (drafts included) stays inside the constraint's language:
  // logits are masked before sampling, drafting and verification, and the constraint moves
  // past each decided token. A forbidden draft is rejected like any other: it was drawn from
  // masked draft logits, and verification compares against masked main logits.
  void set_constraint(std::optional<structured::TokenConstraint> constraint) {
    constraint_ = std::move(constraint);
  }
  const std::optional<structured::TokenConstraint>& constraint() const { return constraint_; }

  // Not ok once the MTP layer gave non-finite logits (drafting stops there, before drawing
  // from them): the sequence cannot go on. step() returns it; plan() callers must check it.
  const Status& draft_status() const { return draft_status_; }

  // Whether steps draft (the default when `draft` >= 1): `--mtp auto` turns drafting off for
  // plain steps, and the session then defers its MTP work until drafting resumes.
  void set_speculative(bool on);
  // Whether the step in progress (or the last one) drafted.
  bool drafted() const { return !drafted_.empty(); }

  const MtpStats& stats() const { return stats_; }
  const ConstraintStats& constraint_stats() const { return constraint_stats_; }
  int draft_depth() const { return depth_.depth(); }

 private:
  std::vector<int32_t> finish_plain();
  std::vector<int32_t> finish_speculative();
  // Feeds the MTP slots the session has not drafted from yet, ending with (t, h_{n-1}); returns
  // the draft logits of the last slot. Later drafts chain on the MTP output hidden state.
  void draft_tokens(int32_t t, int64_t drafts, std::vector<int32_t>& out,
                    std::vector<std::vector<float>>& q);

  Session& session_;
  Sampler& sampler_;
  DraftDepth depth_;
  bool speculative_ = true;
  std::optional<int32_t> pending_;
  // The step in progress: tokens fed, tokens decided before the forward (a next token sampled
  // from the previous logits), the drafts with their distributions, where the feed starts.
  std::vector<int32_t> feed_, decided_, drafted_;
  std::vector<std::vector<float>> q_;
  int64_t feed_start_ = 0;
  MtpStats stats_;
  Status draft_status_ = OkStatus();
  std::vector<float> p_, logits_, hidden_;
  // `logits` with what `c` forbids set to -inf (a copy; the model's logits stay as they are,
  // so that log-probabilities are reported from them).
  std::span<const float> masked(std::span<const float> logits, const structured::TokenConstraint& c);
  void decided(int32_t token);  // the constraint moves past a decided token

  std::optional<structured::TokenConstraint> constraint_;
  std::vector<structured::TokenConstraint> draft_constraints_;  // before draft j
  std::vector<float> masked_;
  ConstraintStats constraint_stats_;
  bool keep_logits_ = false;
  std::vector<std::vector<float>> token_logits_;
  std::vector<int32_t> history_;
};

}  // namespace dsv3
