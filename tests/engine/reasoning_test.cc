#include <gtest/gtest.h>

#include "engine/reasoning.h"

namespace dsv3 {
namespace {

std::string render(const std::vector<ReasoningSplitter::Segment>& segs) {
  std::string s;
  for (const auto& g : segs) s += (g.reasoning ? "[R:" : "[A:") + g.text + "]";
  return s;
}

TEST(Reasoning, SplitsTagsAcrossPieces) {
  ReasoningSplitter r;
  std::string out;
  for (const char* piece : {"<thi", "nk>let me", " see</", "think>The answer", " is 4.", "<"}) {
    out += render(r.feed(piece));
  }
  out += render(r.flush());
  EXPECT_EQ(out, "[R:let me][R: see][A:The answer][A: is 4.][A:<]");
}

TEST(Reasoning, StartsInsideWhenThePromptOpenedThink) {
  EXPECT_TRUE(prompt_opens_reasoning("<｜Assistant｜><think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<think>a</think>b<｜Assistant｜>"));
  EXPECT_FALSE(prompt_opens_reasoning("plain"));
  ReasoningSplitter r(true);
  EXPECT_EQ(render(r.feed("hmm</think>ok")), "[R:hmm][A:ok]");
}

}  // namespace
}  // namespace dsv3
