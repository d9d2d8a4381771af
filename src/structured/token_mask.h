// From the matcher's byte language to the tokenizer's vocabulary: which tokens may come next.
// The vocabulary's byte strings sit in a trie, walked depth first with the matcher state of
// each depth kept, so a shared prefix is matched once and a refused byte prunes its whole
// subtree. Masks are cached by matcher state: inside a string or between values the same
// state comes back token after token.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "structured/grammar.h"
#include "structured/matcher.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::structured {

class TokenTrie {
 public:
  // Every token but the special ones and a chat's turn markers (EOS is handled apart, allowed
  // when the document is whole).
  static std::shared_ptr<const TokenTrie> build(const Tokenizer& tokenizer);
  // The same from byte strings (tests); `usable[id]` false leaves a token out.
  static std::shared_ptr<const TokenTrie> build(const std::vector<std::string>& token_bytes,
                                                const std::vector<bool>& usable, int32_t eos);

  int32_t eos() const { return eos_; }
  size_t vocab_size() const { return token_bytes_.size(); }
  // A token's bytes; special tokens have theirs too, but are not usable (never in a mask).
  std::string_view bytes(int32_t id) const { return token_bytes_[size_t(id)]; }
  bool usable(int32_t id) const { return usable_[size_t(id)]; }

  // Usable tokens whose bytes are a non-empty prefix of `text`.
  void prefixes_of(std::string_view text, std::vector<int32_t>& out) const;
  // Usable tokens whose bytes start with `prefix` and go on past it.
  void extending(std::string_view prefix, std::vector<int32_t>& out) const;

 private:
  friend class CompiledConstraint;
  void build_children(uint32_t node, size_t lo, size_t hi, size_t depth);
  uint32_t child(uint32_t node, uint8_t byte) const;  // 0: none (the root is no one's child)

  std::vector<std::string> token_bytes_;
  std::vector<bool> usable_;
  int32_t eos_ = -1;
  size_t max_token_bytes_ = 0;
  // Node i: the byte that leads to it, its children [first_child, first_child + child_count),
  // the tokens that end there: sorted_[token_begin, token_end).
  std::vector<uint8_t> byte_;
  std::vector<uint32_t> first_child_, child_count_, token_begin_, token_end_;
  std::vector<int32_t> sorted_;
  // Whether some token through node i has a '"' at i's byte or later: where a walk inside a
  // string must look for tokens that close it.
  std::vector<uint8_t> quote_below_;
  // Tokens that stay inside a plain string (Matcher::in_plain_string), by string_key: the
  // same for every schema, so shared by all of them.
  mutable std::mutex inside_mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const std::vector<uint64_t>>> inside_;
};

// Which tokens a state allows: a bit per vocabulary id (EOS included when the document is
// whole), and the shorter of the allowed / forbidden id lists, for applying it quickly.
struct TokenMask {
  std::vector<uint64_t> bits;
  std::vector<int32_t> listed;  // allowed ids if `listed_allowed`, else forbidden ids
  bool listed_allowed = true;
  bool allows(int32_t id) const {
    return id >= 0 && size_t(id) < bits.size() * 64 && (bits[size_t(id) / 64] >> (id % 64) & 1);
  }
  size_t allowed_count = 0;
};

// A grammar with its matcher, the vocabulary and the mask cache; shared by every generation
// with the same schema. Thread-safe.
class CompiledConstraint {
 public:
  CompiledConstraint(Grammar grammar, std::shared_ptr<const TokenTrie> trie);

  const Matcher& matcher() const { return matcher_; }
  const TokenTrie& trie() const { return *trie_; }
  std::shared_ptr<const TokenMask> mask(const MatchState& state) const;

  struct CacheStats {
    int64_t hits = 0, misses = 0;
  };
  CacheStats cache_stats() const;

 private:
  TokenMask compute(const MatchState& state) const;
  // How a walk marks tokens, starting from a state. kAll: every accepted token. kInside
  // (from inside a plain string): only tokens that leave the string open. kClosing (the same
  // start): only tokens that close it, skipping subtrees without a '"'; the others are the
  // kInside mask's.
  enum class WalkMode { kAll, kInside, kClosing };
  struct Walk {
    WalkMode mode = WalkMode::kAll;
    std::vector<MatchState> scratch;  // one state per trie depth
    std::vector<uint64_t>* bits = nullptr;
  };
  void walk(uint32_t node, const MatchState& state, size_t depth, bool closed, Walk& w) const;
  std::shared_ptr<const std::vector<uint64_t>> inside_string(const MatchState& state) const;

  Grammar grammar_;
  Matcher matcher_;
  std::shared_ptr<const TokenTrie> trie_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const TokenMask>> cache_;
  mutable CacheStats stats_;
};

// Counts the allowed ids of `m.bits` (ids past `vocab` cleared) and lists the shorter side.
void list_mask(TokenMask& m, size_t vocab);

class OutputConstraint;  // output_constraint.h: where in the output a grammar applies

// One generation's place in the language.
class TokenConstraint {
 public:
  // The whole output is one document of the grammar.
  explicit TokenConstraint(std::shared_ptr<const CompiledConstraint> compiled);
  // The grammar applies where `plan` says: after the reasoning, inside tool-call arguments.
  explicit TokenConstraint(std::shared_ptr<const OutputConstraint> plan);

  // Sets the logits of tokens that may not come next to -inf; ids past the tokenizer's
  // vocabulary (padding rows of the LM head) too. If no token at all is allowed (only a
  // schema the depth limit cuts off can do that), EOS is, so generation ends.
  void apply(std::span<float> logits) const;
  std::shared_ptr<const TokenMask> mask() const;
  // Moves past `token`; false (and nothing changes) if the constraint forbids it.
  bool accept(int32_t token);
  // The output may end here: the document is whole (a plan: EOS is allowed now).
  bool complete() const;
  bool ended() const { return ended_; }  // EOS was accepted

  // Where the output is (for plans): free text before a trigger, the gap of whitespace
  // between the reasoning and the answer, the answer's document, a call's opening (after the
  // call marker, before its arguments), a strict call's arguments and the text closing them.
  enum class Phase : uint8_t { kReasoning, kGap, kDocument, kCalls, kOpening, kArguments, kClosing };
  Phase phase() const { return phase_; }

 private:
  const CompiledConstraint* grammar() const;  // of kDocument / kArguments / kGap
  bool eos_allowed() const;
  bool step(uint8_t byte);
  bool feed(std::string_view bytes);
  std::shared_ptr<const TokenMask> free_mask(std::string_view trigger) const;
  std::shared_ptr<const TokenMask> literal_mask(const std::vector<std::string_view>& texts) const;
  std::shared_ptr<const TokenMask> gap_mask() const;
  void forbid_unless_accepted(const std::vector<int32_t>& candidates, TokenMask& m, bool allow) const;

  std::shared_ptr<const OutputConstraint> plan_;
  Phase phase_ = Phase::kDocument;
  std::string text_;          // free text: its last bytes; kOpening / kClosing: the text so far
  size_t call_ = 0;           // kArguments / kClosing: which call
  size_t gap_bytes_ = 0;      // kGap: whitespace bytes so far
  bool called_ = false;       // a call's opening (and strict arguments) were written
  MatchState state_, scratch_;
  bool ended_ = false;
};

}  // namespace dsv3::structured
