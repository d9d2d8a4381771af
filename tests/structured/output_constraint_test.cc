// Lazy output constraints driven by scripted token streams: free reasoning then a JSON answer,
// and tool calls whose strict arguments are constrained from where the model opens the call.
// At every step the mask is checked against the definition: a token is allowed exactly when
// the constraint accepts it (its bytes go through the phases one by one).
#include <gtest/gtest.h>

#include "structured/grammar.h"
#include "structured/output_constraint.h"

namespace dsv3::structured {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kMarker = "<｜tool▁call▁begin｜>";
const std::string kOpeningWeather = "function<｜tool▁sep｜>weather\n```json\n";
const std::string kOpeningNote = "function<｜tool▁sep｜>note\n```json\n";
const std::string kClosing = "\n```<｜tool▁call▁end｜>";

class OutputConstraintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int b = 0; b < 256; ++b) vocab_.emplace_back(1, char(b));
    for (const char* t : {"<｜tool▁calls▁begin｜>", kMarker, "<｜tool▁sep｜>", "<｜tool▁call▁end｜>",
                          "function", "weather", "note", "\n```json\n", "```", "json", "\n", "\n\n",
                          "</think>", "</", "think", ">", ">{", ">x", ">\n", "k>{\"", "{\"", "\"}",
                          "city", "\":", "\": ", "\"Paris\"", "}\n", "x<｜tool▁call▁begin｜>func",
                          "x<｜tool▁call▁begin｜>zz", "Hello", " world", "weather\n```json\n{"}) {
      vocab_.emplace_back(t);
    }
    vocab_.emplace_back("<eos>");
    eos_ = int32_t(vocab_.size() - 1);
    std::vector<bool> usable(vocab_.size(), true);
    usable[size_t(eos_)] = false;
    trie_ = TokenTrie::build(vocab_, usable, eos_);
  }

  std::shared_ptr<const CompiledConstraint> compile(const char* schema) const {
    Result<Grammar> g = compile_json_schema(json::parse(schema));
    EXPECT_TRUE(g.ok()) << g.error().message;
    return std::make_shared<const CompiledConstraint>(std::move(g).value(), trie_);
  }

  int32_t id(std::string_view text) const {
    for (size_t i = 0; i < vocab_.size(); ++i) {
      if (vocab_[i] == text) return int32_t(i);
    }
    ADD_FAILURE() << "no token '" << text << "'";
    return -1;
  }

  // The mask against the definition, for every token of the vocabulary.
  void check_mask(const TokenConstraint& c) const {
    const auto m = c.mask();
    for (size_t t = 0; t < vocab_.size(); ++t) {
      TokenConstraint probe = c;
      ASSERT_EQ(m->allows(int32_t(t)), probe.accept(int32_t(t)))
          << "token '" << vocab_[t] << "' in phase " << int(c.phase());
    }
  }

  // Feeds `tokens`, checking the mask before each; every token must be allowed.
  void feed(TokenConstraint& c, const std::vector<std::string>& tokens) const {
    for (const std::string& t : tokens) {
      check_mask(c);
      ASSERT_TRUE(c.mask()->allows(id(t))) << "'" << t << "' refused in phase " << int(c.phase());
      ASSERT_TRUE(c.accept(id(t))) << t;
    }
    check_mask(c);
  }

  std::vector<std::string> vocab_;
  int32_t eos_ = 0;
  std::shared_ptr<const TokenTrie> trie_;
};

TEST_F(OutputConstraintTest, ReasoningIsFreeAndTheAnswerAfterItIsTheDocument) {
  auto answer = compile(R"({"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"], "additionalProperties": false})");
  auto plan = OutputConstraint::make({.trie = trie_, .reasoning_end = "</think>", .answer = answer});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  TokenConstraint c(*plan);
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kReasoning);
  // While reasoning anything goes (JSON or not), but not the end: the answer is owed.
  EXPECT_FALSE(c.mask()->allows(eos_));
  EXPECT_TRUE(c.mask()->allows(id("Hello")));
  feed(c, {"Hello", "{\"", " world", "</", "think"});
  // After "</think" a token ">{" ends the reasoning and starts the answer: allowed; ">x" would
  // start the answer with "x": refused. ">" alone is allowed.
  EXPECT_TRUE(c.mask()->allows(id(">{")));
  EXPECT_FALSE(c.mask()->allows(id(">x")));
  EXPECT_TRUE(c.mask()->allows(id(">\n")));  // the gap: whitespace before the answer
  feed(c, {">", "\n\n"});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kGap);
  EXPECT_FALSE(c.mask()->allows(id("Hello")));
  EXPECT_FALSE(c.mask()->allows(eos_));
  feed(c, {"{\"", "city", "\": ", "\"Paris\"", "}"});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kDocument);
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(c.mask()->allowed_count, 1u);  // whole: only the end
  EXPECT_TRUE(c.accept(eos_));
  EXPECT_TRUE(c.ended());
}

TEST_F(OutputConstraintTest, TheWholeTriggerInOneTokenStartsTheAnswer) {
  auto plan = OutputConstraint::make(
      {.trie = trie_, .reasoning_end = "</think>", .answer = compile(R"({"type": "object"})")});
  ASSERT_TRUE(plan.ok());
  TokenConstraint c(*plan);
  feed(c, {"Hello", "</think>"});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kGap);
  feed(c, {"{", "}"});
  EXPECT_TRUE(c.accept(eos_));
}

TEST_F(OutputConstraintTest, StrictArgumentsAreConstrainedOnceTheModelOpensACall) {
  auto weather = compile(R"({"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": false})");
  auto plan = OutputConstraint::make({.trie = trie_,
                                      .call_marker = kMarker,
                                      .calls = {{.opening = kOpeningWeather, .arguments = weather,
                                                 .closing = kClosing},
                                                {.opening = kOpeningNote}}});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  TokenConstraint c(*plan);
  // "auto": free text, and the answer may end without a call.
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kCalls);
  EXPECT_TRUE(c.mask()->allows(eos_));
  EXPECT_TRUE(c.mask()->allows(id("{\"")));
  // A token holding the marker must go on with a function's opening.
  EXPECT_TRUE(c.mask()->allows(id("x<｜tool▁call▁begin｜>func")));
  EXPECT_FALSE(c.mask()->allows(id("x<｜tool▁call▁begin｜>zz")));
  feed(c, {"Hello", "<｜tool▁calls▁begin｜>", kMarker});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kOpening);
  EXPECT_FALSE(c.mask()->allows(eos_));
  EXPECT_FALSE(c.mask()->allows(id("Hello")));
  feed(c, {"function", "<｜tool▁sep｜>"});
  EXPECT_FALSE(c.mask()->allows(id("city")));  // no such function
  EXPECT_TRUE(c.mask()->allows(id("weather\n```json\n{")));  // opening and the arguments' start
  feed(c, {"weather", "\n```json\n"});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kArguments);
  EXPECT_FALSE(c.mask()->allows(id("Hello")));
  EXPECT_FALSE(c.mask()->allows(id("\"}")));
  feed(c, {"{\"", "city", "\":", "\"Paris\"", "}"});
  // Whole arguments: the call is closed as the template closes it, then free again.
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kClosing);
  EXPECT_FALSE(c.mask()->allows(id("}\n")));
  EXPECT_FALSE(c.mask()->allows(eos_));
  feed(c, {"\n", "```", "<｜tool▁call▁end｜>"});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kCalls);
  // A second call, of the function that is not strict: its arguments are free.
  feed(c, {kMarker, "function", "<｜tool▁sep｜>", "note", "\n```json\n", "Hello", "```"});
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kCalls);
  EXPECT_TRUE(c.accept(eos_));
}

TEST_F(OutputConstraintTest, RequiredStartsInsideTheCallAndCannotEndWithoutOne) {
  auto weather = compile(R"({"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]})");
  auto plan = OutputConstraint::make({.trie = trie_,
                                      .call_marker = kMarker,
                                      .calls = {{.opening = kOpeningWeather, .arguments = weather,
                                                 .closing = kClosing}},
                                      .call_opened = true,
                                      .require_call = true});
  ASSERT_TRUE(plan.ok());
  TokenConstraint c(*plan);
  EXPECT_EQ(c.phase(), TokenConstraint::Phase::kOpening);
  feed(c, {"function", "<｜tool▁sep｜>", "weather\n```json\n{", "\"", "city", "\": ", "\"Paris\"", "}",
           "\n", "```", "<｜tool▁call▁end｜>"});
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(c.accept(eos_));

  // Required with reasoning first: nothing may end the output before a call.
  auto thinking = OutputConstraint::make({.trie = trie_,
                                          .reasoning_end = "</think>",
                                          .call_marker = kMarker,
                                          .calls = {{.opening = kOpeningWeather, .arguments = weather,
                                                     .closing = kClosing}},
                                          .require_call = true});
  ASSERT_TRUE(thinking.ok());
  TokenConstraint t(*thinking);
  EXPECT_FALSE(t.mask()->allows(eos_));
  feed(t, {"Hello", "</think>", "Hello"});
  EXPECT_EQ(t.phase(), TokenConstraint::Phase::kCalls);
  EXPECT_FALSE(t.mask()->allows(eos_));
  EXPECT_FALSE(t.accept(eos_));
  // A marker inside the reasoning does not open a call.
  TokenConstraint r(*thinking);
  feed(r, {kMarker, "Hello"});
  EXPECT_EQ(r.phase(), TokenConstraint::Phase::kReasoning);
}

TEST_F(OutputConstraintTest, BadPlansAreRefusedByName) {
  auto g = compile(R"({"type": "object"})");
  auto error_of = [](Result<std::shared_ptr<const OutputConstraint>> r) {
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(error_of(OutputConstraint::make({.answer = g})), "output constraint: no vocabulary");
  EXPECT_EQ(error_of(OutputConstraint::make({.trie = trie_})),
            "output constraint: neither an answer grammar nor tool calls");
  EXPECT_EQ(error_of(OutputConstraint::make({.trie = trie_, .calls = {{.opening = "a"}}})),
            "output constraint: tool calls without a call marker");
  EXPECT_EQ(error_of(OutputConstraint::make(
                {.trie = trie_, .call_marker = "m", .calls = {{.opening = "ab"}, {.opening = "a"}}})),
            "output constraint: the opening of call 1 is a prefix of call 0's");
  EXPECT_EQ(error_of(OutputConstraint::make({.trie = trie_, .answer = g, .call_marker = "m",
                                             .calls = {{.opening = "a"}}})),
            "output constraint: an answer grammar and tool calls both");
}

}  // namespace
}  // namespace dsv3::structured
