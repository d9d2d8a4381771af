// TokenOutput, the one path from decided tokens to text shared by generate and the server:
// EOS, stop strings split across tokens, held-back UTF-8 and the token limit.
#include "engine/token_output.h"

#include <gtest/gtest.h>

namespace dsv3 {
namespace {

const Tokenizer& tokenizer() {
  static const Tokenizer t = Tokenizer::load(std::string(DSV3_SOURCE_DIR) + "/models/default").value();
  return t;
}

struct Fed {
  std::string text;
  std::optional<FinishReason> finish;
  size_t tokens = 0;
};

// Feeds `ids` until one ends the output; then what flush() still holds if nothing ended it.
Fed feed_all(TokenOutput& out, const std::vector<int32_t>& ids) {
  Fed r;
  for (int32_t id : ids) {
    TokenOutput::Step step = out.accept(id);
    r.text += step.emit;
    ++r.tokens;
    if (step.finish) {
      r.finish = step.finish;
      return r;
    }
  }
  r.text += out.flush();
  return r;
}

TEST(TokenOutput, StopStringSplitAcrossTokensEndsTheTextBeforeIt) {
  const std::vector<int32_t> ids = tokenizer().encode("The jury said ENDOFIT and more");
  TokenOutput out(tokenizer(), {.stop = {"ENDOFIT"}});
  const Fed r = feed_all(out, ids);
  EXPECT_EQ(r.text, "The jury said ");
  ASSERT_TRUE(r.finish.has_value());
  EXPECT_EQ(*r.finish, FinishReason::kStop);
  EXPECT_LT(r.tokens, ids.size());
  EXPECT_EQ(out.flush(), "");  // nothing after a stop string
}

TEST(TokenOutput, EosEndsWithStopAndShowsWhatWasHeldBack) {
  std::vector<int32_t> ids = tokenizer().encode("caf\xc3\xa9 \xe2\x82\xac");
  ids.push_back(tokenizer().eos_id());
  TokenOutput out(tokenizer(), {.stop = {"\xe2\x82\xac!"}});  // holds the euro sign back
  const Fed r = feed_all(out, ids);
  EXPECT_EQ(r.text, "caf\xc3\xa9 \xe2\x82\xac");
  ASSERT_TRUE(r.finish.has_value());
  EXPECT_EQ(*r.finish, FinishReason::kStop);
  EXPECT_EQ(r.tokens, ids.size());
}

TEST(TokenOutput, TokenLimitEndsWithLengthAndFlushes) {
  const std::vector<int32_t> ids = tokenizer().encode("one two three four five six");
  ASSERT_GT(ids.size(), 3u);
  TokenOutput out(tokenizer(), {.stop = {"ZZZ"}, .max_new_tokens = 3});
  const Fed r = feed_all(out, ids);
  ASSERT_TRUE(r.finish.has_value());
  EXPECT_EQ(*r.finish, FinishReason::kLength);
  EXPECT_EQ(r.tokens, 3u);
  EXPECT_EQ(r.text, tokenizer().decode(std::span(ids).first(3)));
}

TEST(TokenOutput, EosIsTextWhenNotAStop) {
  const int32_t eos = tokenizer().eos_id();
  TokenOutput out(tokenizer(), {.stop_at_eos = false, .skip_special = true});
  const TokenOutput::Step step = out.accept(eos);
  EXPECT_FALSE(step.finish.has_value());
  EXPECT_EQ(step.emit, "");  // special tokens skipped from the text
}

TEST(TokenOutput, ChatTurnMarkersEndTheAnswerLikeEos) {
  const std::vector<int32_t> markers = chat_turn_markers(tokenizer());
  ASSERT_EQ(markers.size(), 2u);  // the default model's tokenizer has both
  EXPECT_EQ(markers[0], tokenizer().token_id("<｜User｜>"));
  EXPECT_EQ(markers[1], tokenizer().token_id("<｜Assistant｜>"));
  for (int32_t marker : markers) {
    std::vector<int32_t> ids = tokenizer().encode("Paris.");
    ids.push_back(marker);
    ids.push_back(tokenizer().encode("More")[0]);
    TokenOutput out(tokenizer(), {.turn_end_tokens = markers, .skip_special = true});
    const Fed r = feed_all(out, ids);
    EXPECT_EQ(r.text, "Paris.");
    ASSERT_TRUE(r.finish.has_value());
    EXPECT_EQ(*r.finish, FinishReason::kStop);
    EXPECT_EQ(r.tokens, ids.size() - 1);  // nothing after the marker
  }
}

TEST(TokenOutput, TurnMarkersAreTextWithoutTheChatList) {
  const int32_t user = *tokenizer().token_id("<｜User｜>");
  TokenOutput out(tokenizer(), {});
  const TokenOutput::Step step = out.accept(user);
  EXPECT_FALSE(step.finish.has_value());
}

}  // namespace
}  // namespace dsv3
