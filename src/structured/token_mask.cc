#include "structured/token_mask.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace dsv3::structured {

std::shared_ptr<const TokenTrie> TokenTrie::build(const Tokenizer& tokenizer) {
  std::vector<std::string> bytes(tokenizer.vocab_size());
  std::vector<bool> usable(tokenizer.vocab_size(), false);
  for (size_t id = 0; id < bytes.size(); ++id) {
    bytes[id] = std::string(tokenizer.token_bytes(int32_t(id)));
    usable[id] = !tokenizer.is_special(int32_t(id)) && !bytes[id].empty();
  }
  // A chat's turn markers end the answer (engine/token_output), so a document never holds one.
  for (int32_t id : chat_turn_markers(tokenizer)) usable[size_t(id)] = false;
  return build(bytes, usable, tokenizer.eos_id());
}

std::shared_ptr<const TokenTrie> TokenTrie::build(const std::vector<std::string>& token_bytes,
                                                  const std::vector<bool>& usable, int32_t eos) {
  auto t = std::make_shared<TokenTrie>();
  t->token_bytes_ = token_bytes;
  t->usable_ = usable;
  t->usable_.resize(token_bytes.size(), false);
  t->eos_ = eos;
  for (size_t id = 0; id < token_bytes.size(); ++id) {
    if (!t->usable_[id] || token_bytes[id].empty()) {
      t->usable_[id] = false;
      continue;
    }
    t->sorted_.push_back(int32_t(id));
    t->max_token_bytes_ = std::max(t->max_token_bytes_, token_bytes[id].size());
  }
  std::sort(t->sorted_.begin(), t->sorted_.end(), [&](int32_t a, int32_t b) {
    return token_bytes[size_t(a)] < token_bytes[size_t(b)] ||
           (token_bytes[size_t(a)] == token_bytes[size_t(b)] && a < b);
  });
  // The root: no byte, no tokens.
  t->byte_.push_back(0);
  t->first_child_.push_back(0);
  t->child_count_.push_back(0);
  t->token_begin_.push_back(0);
  t->token_end_.push_back(0);
  t->build_children(0, 0, t->sorted_.size(), 0);
  // Children come after their parent, so one backward pass sees every subtree first.
  t->quote_below_.assign(t->byte_.size(), 0);
  for (size_t i = t->byte_.size(); i-- > 1;) {
    uint8_t below = t->byte_[i] == '"';
    for (uint32_t c = t->first_child_[i]; c < t->first_child_[i] + t->child_count_[i]; ++c) {
      below |= t->quote_below_[c];
    }
    t->quote_below_[i] = below;
  }
  return t;
}

// sorted_[lo, hi) share their first `depth` bytes; those exactly `depth` long come first (a
// prefix sorts before its extensions) and end at `node`. The rest are grouped by their next
// byte into children, allocated side by side before any of them is filled in.
void TokenTrie::build_children(uint32_t node, size_t lo, size_t hi, size_t depth) {
  size_t i = lo;
  while (i < hi && token_bytes_[size_t(sorted_[i])].size() == depth) ++i;
  token_begin_[node] = uint32_t(lo);
  token_end_[node] = uint32_t(i);
  std::vector<std::pair<size_t, size_t>> groups;
  while (i < hi) {
    const char b = token_bytes_[size_t(sorted_[i])][depth];
    size_t j = i;
    while (j < hi && token_bytes_[size_t(sorted_[j])][depth] == b) ++j;
    groups.emplace_back(i, j);
    i = j;
  }
  first_child_[node] = uint32_t(byte_.size());
  child_count_[node] = uint32_t(groups.size());
  for (const auto& [a, b] : groups) {
    byte_.push_back(uint8_t(token_bytes_[size_t(sorted_[a])][depth]));
    first_child_.push_back(0);
    child_count_.push_back(0);
    token_begin_.push_back(0);
    token_end_.push_back(0);
  }
  const uint32_t first = first_child_[node];
  for (size_t g = 0; g < groups.size(); ++g) {
    build_children(first + uint32_t(g), groups[g].first, groups[g].second, depth + 1);
  }
}

CompiledConstraint::CompiledConstraint(Grammar grammar, std::shared_ptr<const TokenTrie> trie)
    : grammar_(std::move(grammar)), matcher_(grammar_), trie_(std::move(trie)) {}

std::shared_ptr<const TokenMask> CompiledConstraint::mask(const MatchState& state) const {
  const std::string key = state.key();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      ++stats_.hits;
      return it->second;
    }
  }
  auto m = std::make_shared<const TokenMask>(compute(state));
  std::lock_guard lock(mu_);
  ++stats_.misses;
  // A bound on memory (a mask is vocab / 8 bytes): schemas with endless distinct states
  // (long bounded strings) start over rather than grow without end.
  if (cache_.size() >= 4096) cache_.clear();
  cache_.emplace(key, m);
  return m;
}

CompiledConstraint::CacheStats CompiledConstraint::cache_stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

TokenMask CompiledConstraint::compute(const MatchState& state) const {
  const TokenTrie& t = *trie_;
  TokenMask m;
  m.bits.assign((t.vocab_size() + 63) / 64, 0);
  Walk w{.scratch = std::vector<MatchState>(t.max_token_bytes_ + 1), .bits = &m.bits};
  if (!state.stacks.empty() && matcher_.in_plain_string(state)) {
    // Inside a string nearly every token is allowed: those that stay inside come from a mask
    // shared by all plain strings; only tokens with a '"' (that may close it) are walked here.
    m.bits = *inside_string(state);
    w.mode = WalkMode::kClosing;
  }
  if (!state.stacks.empty()) walk(0, state, 0, /*closed=*/false, w);
  const int32_t eos = t.eos();
  const bool eos_ok = matcher_.complete(state);
  if (eos >= 0 && size_t(eos) < t.vocab_size() && eos_ok) m.bits[size_t(eos) / 64] |= 1ull << (eos % 64);
  bool any = false;
  for (uint64_t word : m.bits) any = any || word != 0;
  if (!any && eos >= 0 && size_t(eos) < t.vocab_size()) {  // a dead end: let it end
    m.bits[size_t(eos) / 64] |= 1ull << (eos % 64);
  }
  list_mask(m, t.vocab_size());
  return m;
}

void list_mask(TokenMask& m, size_t vocab) {
  if (vocab % 64 != 0 && !m.bits.empty()) m.bits.back() &= (1ull << (vocab % 64)) - 1;
  size_t allowed = 0;
  for (uint64_t word : m.bits) allowed += size_t(__builtin_popcountll(word));
  m.allowed_count = allowed;
  m.listed_allowed = allowed * 2 <= vocab;
  m.listed.clear();
  m.listed.reserve(m.listed_allowed ? allowed : vocab - allowed);
  for (size_t w = 0; w < m.bits.size(); ++w) {  // the set (or clear) bits of each word
    uint64_t word = m.listed_allowed ? m.bits[w] : ~m.bits[w];
    while (word) {
      const size_t id = w * 64 + size_t(__builtin_ctzll(word));
      if (id >= vocab) break;
      m.listed.push_back(int32_t(id));
      word &= word - 1;
    }
  }
}

uint32_t TokenTrie::child(uint32_t node, uint8_t byte) const {
  for (uint32_t c = first_child_[node]; c < first_child_[node] + child_count_[node]; ++c) {
    if (byte_[c] == byte) return c;
  }
  return 0;
}

void TokenTrie::prefixes_of(std::string_view text, std::vector<int32_t>& out) const {
  uint32_t node = 0;
  for (char b : text) {
    node = child(node, uint8_t(b));
    if (node == 0) return;
    out.insert(out.end(), sorted_.begin() + token_begin_[node], sorted_.begin() + token_end_[node]);
  }
}

void TokenTrie::extending(std::string_view prefix, std::vector<int32_t>& out) const {
  uint32_t node = 0;
  for (char b : prefix) {
    node = child(node, uint8_t(b));
    if (node == 0) return;
  }
  // Tokens sort by their bytes, so the subtree's tokens are one run of sorted_: from the end
  // of those that stop at `node` to the end of its last descendant's.
  uint32_t last = node;
  while (child_count_[last] > 0) last = first_child_[last] + child_count_[last] - 1;
  out.insert(out.end(), sorted_.begin() + token_end_[node], sorted_.begin() + token_end_[last]);
}

std::shared_ptr<const std::vector<uint64_t>> CompiledConstraint::inside_string(
    const MatchState& state) const {
  const TokenTrie& t = *trie_;
  const std::string key = matcher_.string_key(state);
  {
    std::lock_guard lock(t.inside_mu_);
    if (auto it = t.inside_.find(key); it != t.inside_.end()) return it->second;
  }
  auto bits = std::make_shared<std::vector<uint64_t>>((t.vocab_size() + 63) / 64, 0);
  Walk w{.mode = WalkMode::kInside,
         .scratch = std::vector<MatchState>(t.max_token_bytes_ + 1),
         .bits = bits.get()};
  walk(0, state, 0, /*closed=*/false, w);
  std::lock_guard lock(t.inside_mu_);
  return t.inside_.emplace(key, std::move(bits)).first->second;
}

// `closed`: in kInside / kClosing walks, whether the bytes of the path so far have closed the
// string the walk started in (only an unescaped '"' does that).
void CompiledConstraint::walk(uint32_t node, const MatchState& state, size_t depth, bool closed,
                              Walk& w) const {
  const TokenTrie& t = *trie_;
  auto mark = [&](uint32_t c) {
    for (uint32_t i = t.token_begin_[c]; i < t.token_end_[c]; ++i) {
      const int32_t id = t.sorted_[i];
      (*w.bits)[size_t(id) / 64] |= 1ull << (id % 64);
    }
  };
  const uint32_t first = t.first_child_[node], end = first + t.child_count_[node];
  for (uint32_t c = first; c < end; ++c) {
    const uint8_t b = t.byte_[c];
    // Tokens that stay in the string are the kInside mask's; only a '"' can close it.
    if (w.mode == WalkMode::kClosing && !closed && !t.quote_below_[c]) continue;
    const bool child_closed = w.mode != WalkMode::kAll && (closed || matcher_.closes_string(state, b));
    if (w.mode == WalkMode::kInside && child_closed) continue;
    const bool marks = w.mode != WalkMode::kClosing || child_closed;
    if (matcher_.keeps(state, b)) {  // a plain character inside a string: no copy
      if (marks) mark(c);
      if (t.child_count_[c] > 0) walk(c, state, depth + 1, child_closed, w);
      continue;
    }
    MatchState& next = w.scratch[depth];
    matcher_.step(state, b, next);
    if (next.stacks.empty()) continue;
    if (marks) mark(c);
    if (t.child_count_[c] > 0) walk(c, next, depth + 1, child_closed, w);
  }
}

}  // namespace dsv3::structured
