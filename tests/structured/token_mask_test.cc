// Token masks from the vocabulary trie against the plain reference: a token is allowed exactly
// when the matcher accepts its bytes one by one from the current state.
#include <gtest/gtest.h>

#include <random>

#include "structured/grammar.h"
#include "structured/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::structured {
namespace {

using json = nlohmann::ordered_json;

// Every byte, and multi-byte tokens that span several JSON tokens ("},{", "\":\"", ...).
std::vector<std::string> test_vocabulary() {
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b) v.emplace_back(1, char(b));
  for (const char* t : {"{\"", "\":", "\": ", "\":\"", "\"},{\"", "\"}", "}]", "}}", "},{", "\",\"",
                        "[{", "[\"", "\"]", "true", "false", "null", "nul", "red", "redder", "reddest",
                        "\"red", "\"redd", "er\"", "\\\"", "\\\\", "\\u00e9", "\\ud83d", "\\ude00",
                        "caf\xc3\xa9", "\xc3", "\xa9\"", "12", "-0", "0.5", "1e5", "01", " \"", "  ",
                        "name", "\"name\"", "\"name\":", "age", "\"age\": ", ", \"", "ab", "abc"}) {
    v.emplace_back(t);
  }
  v.emplace_back("<eos>");
  return v;
}

class TokenMaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vocab_ = test_vocabulary();
    std::vector<bool> usable(vocab_.size(), true);
    eos_ = int32_t(vocab_.size() - 1);
    usable[size_t(eos_)] = false;  // a special token: only ever allowed as the end
    trie_ = TokenTrie::build(vocab_, usable, eos_);
  }

  // The reference: each token's bytes through the matcher from the state.
  std::vector<bool> reference(const CompiledConstraint& c, const MatchState& state) const {
    std::vector<bool> allowed(vocab_.size(), false);
    for (size_t id = 0; id + 1 < vocab_.size(); ++id) {
      MatchState cur = state, next;
      bool ok = !cur.stacks.empty();
      for (char b : vocab_[id]) {
        if (!ok) break;
        c.matcher().step(cur, uint8_t(b), next);
        ok = !next.stacks.empty();
        std::swap(cur, next);
      }
      allowed[id] = ok;
    }
    allowed[size_t(eos_)] = c.matcher().complete(state);
    return allowed;
  }

  // Walks `document` token by token (greedy longest match from the vocabulary), checking the
  // mask against the reference at every step.
  void check_along(const char* schema, const std::string& document) {
    SCOPED_TRACE(document);
    Result<Grammar> g = compile_json_schema(json::parse(schema));
    ASSERT_TRUE(g.ok()) << g.error().message;
    auto c = std::make_shared<CompiledConstraint>(std::move(g).value(), trie_);
    TokenConstraint tc(c);
    MatchState state = c->matcher().initial();
    size_t pos = 0;
    while (true) {
      const std::vector<bool> want = reference(*c, state);
      const auto mask = tc.mask();
      for (size_t id = 0; id < vocab_.size(); ++id) {
        ASSERT_EQ(mask->allows(int32_t(id)), want[id]) << "token '" << vocab_[id] << "' at byte " << pos;
      }
      if (pos == document.size()) break;
      size_t best = 0, best_len = 0;
      for (size_t id = 0; id + 1 < vocab_.size(); ++id) {
        const std::string& t = vocab_[id];
        if (t.size() > best_len && document.compare(pos, t.size(), t) == 0 && mask->allows(int32_t(id))) {
          best = id;
          best_len = t.size();
        }
      }
      ASSERT_GT(best_len, 0u) << "no allowed token continues the document at byte " << pos;
      ASSERT_TRUE(tc.accept(int32_t(best)));
      MatchState next;
      for (char b : vocab_[best]) {
        c->matcher().step(state, uint8_t(b), next);
        std::swap(state, next);
      }
      pos += best_len;
    }
    EXPECT_TRUE(tc.complete());
    EXPECT_TRUE(tc.accept(eos_));
    EXPECT_TRUE(tc.ended());
  }

  std::vector<std::string> vocab_;
  int32_t eos_ = 0;
  std::shared_ptr<const TokenTrie> trie_;
};

TEST_F(TokenMaskTest, MatchesTheReferenceAlongDocuments) {
  check_along(R"({"type": "array", "items": {"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"],
      "additionalProperties": false}})",
              R"([{"name":"caf\u00e9 \"x\\"},{"name": "ab", "age": 12}])");
  check_along(R"({"enum": ["red", "redder", "reddest"]})", R"("redder")");
  // Strings side by side: a token like "," closes one string and opens the next, so it is not
  // one of the tokens that stay inside (a mask shared by every plain string of every schema).
  check_along(R"({"type": "array", "items": {"type": "string"}})", R"(["ab","caf\u00e9","","\\"])");
  check_along(R"({"type": "object", "properties": {"name": {"type": "string"}}})",
              R"({"name": "ab", "ab": "name"})");
  check_along(R"({"type": "object"})",
              "{\"a\": [true, null, -0, 0.5, 1e5], \"\\ud83d\\ude00\": \"caf\xc3\xa9\", \"b\": {}}");
}

TEST_F(TokenMaskTest, EosOnlyWhenWholeAndSpecialTokensNever) {
  auto c = std::make_shared<CompiledConstraint>(json_object_grammar(), trie_);
  TokenConstraint tc(c);
  EXPECT_FALSE(tc.mask()->allows(eos_));
  EXPECT_FALSE(tc.accept(eos_));
  ASSERT_TRUE(tc.accept(int32_t('{')));
  ASSERT_TRUE(tc.accept(int32_t('}')));
  const auto m = tc.mask();
  EXPECT_TRUE(m->allows(eos_));
  EXPECT_EQ(m->allowed_count, 1u);  // whole: only the end
  std::vector<float> logits(vocab_.size() + 3, 1.0f);  // an LM head with padding rows
  tc.apply(logits);
  for (size_t id = 0; id < logits.size(); ++id) {
    EXPECT_EQ(logits[id], int32_t(id) == eos_ ? 1.0f : -INFINITY) << id;
  }
}

TEST_F(TokenMaskTest, ApplyKeepsAllowedLogitsWhenMostAreAllowed) {
  auto c = std::make_shared<CompiledConstraint>(compile_json_schema(json::parse(R"({"type": "string"})")).value(), trie_);
  TokenConstraint tc(c);
  ASSERT_TRUE(tc.accept(int32_t('"')));
  std::vector<float> logits(vocab_.size());
  std::mt19937 rng(5);
  for (float& l : logits) l = float(rng() % 1000) / 100.0f;
  std::vector<float> masked = logits;
  tc.apply(masked);
  const auto m = tc.mask();
  EXPECT_FALSE(m->listed_allowed);  // inside a string nearly everything is allowed
  for (size_t id = 0; id < logits.size(); ++id) {
    EXPECT_EQ(masked[id], m->allows(int32_t(id)) ? logits[id] : -INFINITY) << id;
  }
  EXPECT_FALSE(m->allows(int32_t('\n')));  // raw control characters are not
  EXPECT_FALSE(m->allows(int32_t(0xff)));  // nor bytes that never start UTF-8
}

// <｜User｜> and <｜Assistant｜> are added tokens with text (not "special"), but they end a
// chat's answer: a document never holds one, while ordinary words stay usable.
TEST(TokenTrieOfATokenizer, ChatTurnMarkersAreNeverUsable) {
  const Tokenizer tok =
      Tokenizer::load(std::string(DSV3_SOURCE_DIR) + "/models/default").value();
  const auto trie = TokenTrie::build(tok);
  const std::vector<int32_t> markers = chat_turn_markers(tok);
  ASSERT_EQ(markers.size(), 2u);
  for (int32_t id : markers) {
    EXPECT_FALSE(tok.is_special(id));
    EXPECT_FALSE(trie->usable(id)) << tok.token_text(id);
  }
  EXPECT_TRUE(trie->usable(tok.encode("name")[0]));
}

}  // namespace
}  // namespace dsv3::structured
