#include "structured/output_constraint.h"

#include <algorithm>
#include <limits>

namespace dsv3::structured {

namespace {

bool is_json_space(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }

// Usable tokens whose bytes hold `trigger` with at least one byte after it.
std::vector<int32_t> tokens_holding(const TokenTrie& t, const std::string& trigger) {
  std::vector<int32_t> out;
  if (trigger.empty()) return out;
  for (size_t id = 0; id < t.vocab_size(); ++id) {
    if (!t.usable(int32_t(id))) continue;
    const std::string_view b = t.bytes(int32_t(id));
    const size_t at = b.find(trigger);
    if (at != std::string_view::npos && at + trigger.size() < b.size()) out.push_back(int32_t(id));
  }
  return out;
}

// Gap between the reasoning and the answer: a few whitespace bytes, as R1 writes "\n\n".
constexpr size_t kMaxGapBytes = 4;

}  // namespace

Result<std::shared_ptr<const OutputConstraint>> OutputConstraint::make(Options o) {
  if (!o.trie) return Err("output constraint: no vocabulary");
  if (o.answer && !o.calls.empty()) return Err("output constraint: an answer grammar and tool calls both");
  if (!o.answer && o.calls.empty()) return Err("output constraint: neither an answer grammar nor tool calls");
  if (!o.calls.empty() && o.call_marker.empty()) return Err("output constraint: tool calls without a call marker");
  for (size_t i = 0; i < o.calls.size(); ++i) {
    if (o.calls[i].opening.empty()) return Err("output constraint: call ", i, " has an empty opening");
    for (size_t j = 0; j < o.calls.size(); ++j) {
      if (i != j && o.calls[j].opening.starts_with(o.calls[i].opening)) {
        return Err("output constraint: the opening of call ", i, " is a prefix of call ", j, "'s");
      }
    }
  }
  if (o.call_opened && o.calls.empty()) return Err("output constraint: a call opened without calls");
  std::shared_ptr<OutputConstraint> c(new OutputConstraint(std::move(o)));
  const TokenTrie& t = *c->o_.trie;
  c->holding_reasoning_end_ = tokens_holding(t, c->o_.reasoning_end);
  c->holding_call_marker_ = tokens_holding(t, c->o_.call_marker);
  if (!c->o_.reasoning_end.empty() && c->o_.answer) {
    for (size_t id = 0; id < t.vocab_size(); ++id) {
      const std::string_view b = t.bytes(int32_t(id));
      if (t.usable(int32_t(id)) && b.size() <= kMaxGapBytes &&
          std::all_of(b.begin(), b.end(), [](char ch) { return is_json_space(uint8_t(ch)); })) {
        c->whitespace_tokens_.push_back(int32_t(id));
      }
    }
  }
  return std::shared_ptr<const OutputConstraint>(std::move(c));
}

std::shared_ptr<const OutputConstraint> OutputConstraint::whole(
    std::shared_ptr<const CompiledConstraint> answer) {
  std::shared_ptr<const TokenTrie> trie = trie_of(answer);
  return std::move(make({.trie = std::move(trie), .answer = std::move(answer)})).value();
}

TokenConstraint::TokenConstraint(std::shared_ptr<const CompiledConstraint> compiled)
    : TokenConstraint(OutputConstraint::whole(std::move(compiled))) {}

TokenConstraint::TokenConstraint(std::shared_ptr<const OutputConstraint> plan) : plan_(std::move(plan)) {
  const OutputConstraint::Options& o = plan_->options();
  if (!o.reasoning_end.empty()) {
    phase_ = Phase::kReasoning;
  } else if (o.answer) {
    phase_ = Phase::kDocument;
    state_ = o.answer->matcher().initial();
  } else {
    phase_ = o.call_opened ? Phase::kOpening : Phase::kCalls;
  }
}

const CompiledConstraint* TokenConstraint::grammar() const {
  const OutputConstraint::Options& o = plan_->options();
  switch (phase_) {
    case Phase::kDocument:
    case Phase::kGap:
      return o.answer.get();
    case Phase::kArguments:
      return o.calls[call_].arguments.get();
    default:
      return nullptr;
  }
}

bool TokenConstraint::eos_allowed() const {
  const OutputConstraint::Options& o = plan_->options();
  switch (phase_) {
    case Phase::kReasoning:
      return !o.answer && !o.require_call;
    case Phase::kCalls:
      return !o.require_call || called_;
    case Phase::kDocument:
      return o.answer->matcher().complete(state_);
    default:  // the answer has not started, a call is half written
      return false;
  }
}

// One byte of output: the phases' transitions. False when the byte is not allowed here.
bool TokenConstraint::step(uint8_t b) {
  const OutputConstraint::Options& o = plan_->options();
  auto free_text = [&](const std::string& trigger) {
    text_ += char(b);
    if (text_.size() > trigger.size()) text_.erase(0, text_.size() - trigger.size());
    return text_ == trigger;
  };
  switch (phase_) {
    case Phase::kReasoning:
      if (free_text(o.reasoning_end)) {
        text_.clear();
        if (o.answer) {
          phase_ = Phase::kGap;
          gap_bytes_ = 0;
          state_ = o.answer->matcher().initial();
        } else {
          phase_ = o.call_opened ? Phase::kOpening : Phase::kCalls;
        }
      }
      return true;
    case Phase::kGap:
      if (is_json_space(b) && gap_bytes_ < kMaxGapBytes) {
        ++gap_bytes_;
        return true;
      }
      phase_ = Phase::kDocument;
      [[fallthrough]];
    case Phase::kDocument:
    case Phase::kArguments: {
      const CompiledConstraint& g = *grammar();
      g.matcher().step(state_, b, scratch_);
      if (scratch_.stacks.empty()) return false;
      std::swap(state_, scratch_);
      // Arguments end where their JSON value is whole; the call's closing markup follows.
      if (phase_ == Phase::kArguments && g.matcher().complete(state_)) {
        state_.stacks.clear();
        text_.clear();
        phase_ = o.calls[call_].closing.empty() ? Phase::kCalls : Phase::kClosing;
      }
      return true;
    }
    case Phase::kClosing: {
      const std::string& closing = o.calls[call_].closing;
      text_ += char(b);
      if (!closing.starts_with(text_)) return false;
      if (text_.size() == closing.size()) {
        text_.clear();
        phase_ = Phase::kCalls;
      }
      return true;
    }
    case Phase::kCalls:
      if (free_text(o.call_marker)) {
        text_.clear();
        phase_ = Phase::kOpening;
      }
      return true;
    case Phase::kOpening: {
      text_ += char(b);
      for (size_t i = 0; i < o.calls.size(); ++i) {
        const std::string& opening = o.calls[i].opening;
        if (!opening.starts_with(text_)) continue;
        if (text_.size() == opening.size()) {
          text_.clear();
          called_ = true;  // a call of a known function is being written
          if (o.calls[i].arguments) {
            phase_ = Phase::kArguments;
            call_ = i;
            state_ = o.calls[i].arguments->matcher().initial();
          } else {
            phase_ = Phase::kCalls;
          }
        }
        return true;
      }
      return false;
    }
  }
  return false;
}

bool TokenConstraint::feed(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const bool in_arguments = phase_ == Phase::kArguments;
    if (!step(uint8_t(bytes[i]))) return false;
    // The arguments' masks come from their grammar alone, so a token that ends the arguments
    // ends with them.
    if (in_arguments && phase_ != Phase::kArguments && i + 1 < bytes.size()) return false;
  }
  return true;
}

bool TokenConstraint::accept(int32_t token) {
  if (ended_) return false;
  const TokenTrie& t = plan_->trie();
  if (token == t.eos()) {
    if (!mask()->allows(token)) return false;
    ended_ = true;
    return true;
  }
  if (token < 0 || size_t(token) >= t.vocab_size()) return false;
  // Grammar phases take usable tokens only; free text takes special ones too (their text
  // may hold a marker).
  const bool in_grammar = phase_ != Phase::kReasoning && phase_ != Phase::kCalls;
  if (in_grammar && !t.usable(token)) return false;
  TokenConstraint next = *this;
  if (!next.feed(t.bytes(token))) return false;
  *this = std::move(next);
  return true;
}

bool TokenConstraint::complete() const { return !ended_ && eos_allowed(); }

// Candidates are allowed (allow = true) or forbidden (false) by whether they would be accepted.
void TokenConstraint::forbid_unless_accepted(const std::vector<int32_t>& candidates, TokenMask& m,
                                             bool allow) const {
  for (int32_t id : candidates) {
    TokenConstraint probe = *this;
    const bool ok = probe.accept(id);
    uint64_t& word = m.bits[size_t(id) / 64];
    const uint64_t bit = 1ull << (id % 64);
    if (allow && ok) word |= bit;
    if (!allow && !ok) word &= ~bit;
  }
}

// Free text: every token, except those that would complete `trigger` and go on with bytes the
// next phase refuses (a token holding "</think>{" must be a valid start of the answer).
std::shared_ptr<const TokenMask> TokenConstraint::free_mask(std::string_view trigger) const {
  const TokenTrie& t = plan_->trie();
  auto m = std::make_shared<TokenMask>();
  m->bits.assign((t.vocab_size() + 63) / 64, ~0ull);
  const int32_t eos = t.eos();
  if (eos >= 0 && size_t(eos) < t.vocab_size() && !eos_allowed()) m->bits[size_t(eos) / 64] &= ~(1ull << (eos % 64));
  std::vector<int32_t> candidates = plan_->holding(std::string(trigger));
  // The text so far may end with the trigger's first j bytes: tokens with the rest and more.
  for (size_t j = 1; j < trigger.size(); ++j) {
    if (text_.size() >= j && std::string_view(text_).substr(text_.size() - j) == trigger.substr(0, j)) {
      t.extending(trigger.substr(j), candidates);
    }
  }
  forbid_unless_accepted(candidates, *m, /*allow=*/false);
  list_mask(*m, t.vocab_size());
  return m;
}

// Markup (a call's opening or closing): tokens that keep the text a prefix of one of `texts`,
// and those that finish one and go on past it (checked byte by byte by the next phase).
std::shared_ptr<const TokenMask> TokenConstraint::literal_mask(const std::vector<std::string_view>& texts) const {
  const TokenTrie& t = plan_->trie();
  auto m = std::make_shared<TokenMask>();
  m->bits.assign((t.vocab_size() + 63) / 64, 0);
  std::vector<int32_t> inside, beyond;
  for (std::string_view text : texts) {
    if (!text.starts_with(text_)) continue;
    const std::string_view rest = text.substr(text_.size());
    t.prefixes_of(rest, inside);
    t.extending(rest, beyond);
  }
  for (int32_t id : inside) m->bits[size_t(id) / 64] |= 1ull << (id % 64);
  forbid_unless_accepted(beyond, *m, /*allow=*/true);
  list_mask(*m, t.vocab_size());
  return m;
}

// Between </think> and the answer: the answer's first tokens, or a little whitespace.
std::shared_ptr<const TokenMask> TokenConstraint::gap_mask() const {
  const TokenTrie& t = plan_->trie();
  auto m = std::make_shared<TokenMask>(*plan_->options().answer->mask(state_));
  const int32_t eos = t.eos();
  if (eos >= 0 && size_t(eos) < t.vocab_size()) m->bits[size_t(eos) / 64] &= ~(1ull << (eos % 64));
  forbid_unless_accepted(plan_->whitespace_tokens(), *m, /*allow=*/true);
  list_mask(*m, t.vocab_size());
  return m;
}

std::shared_ptr<const TokenMask> TokenConstraint::mask() const {
  const OutputConstraint::Options& o = plan_->options();
  if (ended_) {  // nothing follows EOS; the caller stops before asking
    auto m = std::make_shared<TokenMask>();
    m->bits.assign((plan_->trie().vocab_size() + 63) / 64, 0);
    return m;
  }
  switch (phase_) {
    case Phase::kReasoning:
      return free_mask(o.reasoning_end);
    case Phase::kCalls:
      return free_mask(o.call_marker);
    case Phase::kOpening: {
      std::vector<std::string_view> openings;
      for (const OutputConstraint::Call& call : o.calls) openings.push_back(call.opening);
      return literal_mask(openings);
    }
    case Phase::kClosing:
      return literal_mask({o.calls[call_].closing});
    case Phase::kGap:
      return gap_mask();
    case Phase::kDocument:
      return o.answer->mask(state_);
    case Phase::kArguments: {
      std::shared_ptr<const TokenMask> m = o.calls[call_].arguments->mask(state_);
      const int32_t eos = plan_->trie().eos();
      if (!m->allows(eos)) return m;
      auto copy = std::make_shared<TokenMask>(*m);  // arguments cannot end the output
      copy->bits[size_t(eos) / 64] &= ~(1ull << (eos % 64));
      list_mask(*copy, plan_->trie().vocab_size());
      return copy;
    }
  }
  return nullptr;
}

void TokenConstraint::apply(std::span<float> logits) const {
  const std::shared_ptr<const TokenMask> m = mask();
  constexpr float kForbidden = -std::numeric_limits<float>::infinity();
  const size_t vocab = plan_->trie().vocab_size();
  if (m->listed_allowed) {
    // Few allowed: keep their logits, forbid everything, put them back.
    std::vector<float> kept(m->listed.size());
    for (size_t i = 0; i < kept.size(); ++i) {
      const size_t id = size_t(m->listed[i]);
      kept[i] = id < logits.size() ? logits[id] : kForbidden;
    }
    std::fill(logits.begin(), logits.end(), kForbidden);
    for (size_t i = 0; i < kept.size(); ++i) {
      const size_t id = size_t(m->listed[i]);
      if (id < logits.size()) logits[id] = kept[i];
    }
  } else {
    for (int32_t id : m->listed) {
      if (size_t(id) < logits.size()) logits[size_t(id)] = kForbidden;
    }
    for (size_t id = vocab; id < logits.size(); ++id) logits[id] = kForbidden;
  }
}

}  // namespace dsv3::structured
