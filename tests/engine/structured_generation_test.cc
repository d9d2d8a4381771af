// Constrained decoding end to end on the built-in default model (a tiny model that writes
// broken English, so the constraint does all the work): with several seeds, with and without
// MTP drafts, every output parses and follows its schema, and finishes with "stop".
#include <gtest/gtest.h>

#include "engine/generation.h"
#include "engine/text_model.h"
#include "structured/grammar.h"
#include "structured/schema_validator.h"
#include "structured/output_constraint.h"

namespace dsv3 {
namespace {

using json = nlohmann::ordered_json;

const std::string kDefaultModel = std::string(DSV3_SOURCE_DIR) + "/models/default";

// Schemas whose documents are bounded (strings and arrays have maximum sizes), so that every
// run can finish inside the token budget.
const char* const kSchemas[] = {
    R"({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "alive": {"type": "boolean"},
        "color": {"enum": ["red", "redder", "green", null]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3}},
       "required": ["name", "age", "alive", "color", "tags"], "additionalProperties": false})",
    R"({"type": "object", "properties": {
        "point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                  "required": ["x", "y"], "additionalProperties": false},
        "label": {"anyOf": [{"type": "string", "maxLength": 8}, {"type": "null"}, {"const": 7}]},
        "more": {"type": ["integer", "boolean"]}},
       "required": ["point", "label"], "additionalProperties": false})",
    R"({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer"},
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 1}},
        "required": ["v", "kids"], "additionalProperties": false}}})",
    R"({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 5},
        "minItems": 1, "maxItems": 4})",
};

class StructuredGeneration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    text_model_ = TextModel::load(kDefaultModel, "", {}).value().release();
    trie_ = structured::TokenTrie::build(text_model_->tokenizer());
  }
  static void TearDownTestSuite() { delete text_model_; }

  static GenerationResult run(const json& schema, uint64_t seed, int draft, float temperature) {
    const Model& m = text_model_->model();
    auto grammar = structured::compile_json_schema(schema);
    EXPECT_TRUE(grammar.ok()) << grammar.error().message;
    GenerationRequest req;
    req.prompt = text_model_->encode_prompt("The answer, as JSON:").value();
    req.max_new_tokens = 400;
    req.sampling = SamplingParams{.temperature = temperature, .seed = seed};
    req.draft = m.mtp_depth() > 0 ? draft : 0;
    req.constraint = structured::OutputConstraint::whole(
        std::make_shared<structured::CompiledConstraint>(std::move(grammar).value(), trie_));
    Session session(m, SessionOptions{.context = 1024, .mtp = req.draft > 0});
    return generate_text(session, text_model_->tokenizer(), req).value();
  }

  static TextModel* text_model_;
  static std::shared_ptr<const structured::TokenTrie> trie_;
};
TextModel* StructuredGeneration::text_model_ = nullptr;
std::shared_ptr<const structured::TokenTrie> StructuredGeneration::trie_;

TEST_F(StructuredGeneration, EveryOutputParsesAndFollowsItsSchema) {
  for (const char* text : kSchemas) {
    const json schema = json::parse(text);
    for (uint64_t seed : {1, 2, 3}) {
      for (int draft : {int(seed % 2) * 2}) {  // odd seeds with two MTP drafts, even without
        SCOPED_TRACE(std::string(text).substr(0, 60) + " seed " + std::to_string(seed) +
                     " draft " + std::to_string(draft));
        const GenerationResult r = run(schema, seed, draft, 1.0f);
        EXPECT_EQ(r.finish, FinishReason::kStop) << r.text;
        const json value = json::parse(r.text, nullptr, /*allow_exceptions=*/false);
        ASSERT_FALSE(value.is_discarded()) << "not JSON: " << r.text;
        EXPECT_EQ(structured::schema_violation(value, schema), "") << r.text;
        EXPECT_EQ(r.tokens.back(), text_model_->tokenizer().eos_id());
        EXPECT_GT(r.constraint.masks, 0);
      }
    }
  }
}

TEST_F(StructuredGeneration, GreedyIsTheSameWithAndWithoutDrafts) {
  const json schema = json::parse(kSchemas[0]);
  const GenerationResult plain = run(schema, 1, 0, 0.0f);
  const GenerationResult drafted = run(schema, 1, 2, 0.0f);
  EXPECT_EQ(plain.tokens, drafted.tokens);
  EXPECT_EQ(plain.text, drafted.text);
}

TEST_F(StructuredGeneration, JsonObjectModeGivesAnObject) {
  const Model& m = text_model_->model();
  GenerationRequest req;
  req.prompt = text_model_->encode_prompt("He said").value();
  req.max_new_tokens = 200;
  req.sampling = SamplingParams{.temperature = 0.0f};
  req.constraint = structured::OutputConstraint::whole(
      std::make_shared<structured::CompiledConstraint>(structured::json_object_grammar(), trie_));
  Session session(m, SessionOptions{.context = 1024});
  const GenerationResult r = generate_text(session, text_model_->tokenizer(), req).value();
  ASSERT_FALSE(r.text.empty());
  EXPECT_EQ(r.text[0], '{');
  if (r.finish == FinishReason::kStop) {
    EXPECT_TRUE(json::parse(r.text, nullptr, false).is_object()) << r.text;
  } else {  // cut by the limit: still a valid beginning of an object
    EXPECT_EQ(r.finish, FinishReason::kLength);
    const structured::Grammar grammar = structured::json_object_grammar();
    const structured::Matcher matcher(grammar);
    structured::MatchCursor cursor(matcher);
    EXPECT_TRUE(cursor.advance(r.text)) << r.text;
  }
}

// Lazy constraints with a real model: the trigger is a string the model writes all the time
// (" the"), standing in for a tool-call marker or the end of reasoning, so that every run
// crosses it many times, drafts included.
class LazyGeneration : public StructuredGeneration {
 protected:
  static GenerationResult run_plan(structured::OutputConstraint::Options o, uint64_t seed, int draft,
                                   int64_t max_tokens) {
    const Model& m = text_model_->model();
    o.trie = trie_;
    GenerationRequest req;
    req.prompt = text_model_->encode_prompt("The weather in the city of the county").value();
    req.max_new_tokens = max_tokens;
    req.sampling = SamplingParams{.temperature = 1.0f, .seed = seed};
    req.draft = m.mtp_depth() > 0 ? draft : 0;
    req.constraint = structured::OutputConstraint::make(std::move(o)).value();
    Session session(m, SessionOptions{.context = 1024, .mtp = req.draft > 0});
    return generate_text(session, text_model_->tokenizer(), req).value();
  }
  std::shared_ptr<const structured::CompiledConstraint> compile(const json& schema) const {
    return std::make_shared<structured::CompiledConstraint>(structured::compile_json_schema(schema).value(), trie_);
  }
};

// Arguments without free strings, so that the closing ";;" cannot occur inside them.
const char* const kArguments = R"({"type": "object", "properties": {
    "days": {"type": "integer"}, "units": {"enum": ["C", "F"]}, "ok": {"type": "boolean"}},
    "required": ["days", "units", "ok"], "additionalProperties": false})";

TEST_F(LazyGeneration, EveryCallTheModelOpensHasArgumentsThatFollowTheSchema) {
  const json schema = json::parse(kArguments);
  int calls = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    const int draft = int(seed % 2) * 2;
    SCOPED_TRACE("seed " + std::to_string(seed) + " draft " + std::to_string(draft));
    const GenerationResult r = run_plan({.call_marker = " the",
                                         .calls = {{.opening = " weather:", .arguments = compile(schema),
                                                    .closing = ";;"}}},
                                        seed, draft, 160);
    // Free text between calls; each " the" opened a call: " weather:", arguments, ";;".
    const std::string opened = " the weather:";
    size_t at = r.text.find(opened);
    EXPECT_EQ(r.text.find(" the"), at) << "a marker that opened no call: " << r.text;
    for (; at != std::string::npos; at = r.text.find(opened, at + 1)) {
      const size_t args = at + opened.size(), end = r.text.find(";;", args);
      if (end == std::string::npos) {  // cut by the token limit inside the call
        EXPECT_EQ(r.finish, FinishReason::kLength) << r.text;
        break;
      }
      const json value = json::parse(r.text.substr(args, end - args), nullptr, false);
      ASSERT_FALSE(value.is_discarded()) << "not JSON: " << r.text.substr(args, end - args);
      EXPECT_EQ(structured::schema_violation(value, schema), "") << value.dump();
      ++calls;
    }
  }
  EXPECT_GE(calls, 8) << "the marker is a common word: calls should be frequent";
}

TEST_F(LazyGeneration, RequiredCallsCannotEndBeforeOneIsWritten) {
  const json schema = json::parse(kArguments);
  for (uint64_t seed : {5, 6}) {
    const GenerationResult r = run_plan({.call_marker = " the",
                                         .calls = {{.opening = " weather:", .arguments = compile(schema),
                                                    .closing = ";;"}},
                                         .call_opened = true,
                                         .require_call = true},
                                        seed, int(seed % 2) * 2, 120);
    ASSERT_TRUE(r.text.starts_with(" weather:")) << r.text;
    const size_t end = r.text.find(";;");
    ASSERT_NE(end, std::string::npos) << r.text;
    const json value = json::parse(r.text.substr(9, end - 9), nullptr, false);
    EXPECT_EQ(structured::schema_violation(value, schema), "") << r.text;
  }
}

TEST_F(LazyGeneration, TheAnswerAfterTheReasoningFollowsTheSchemaAndTheReasoningIsFree) {
  const json schema = json::parse(kSchemas[0]);
  for (uint64_t seed : {1, 2, 3}) {
    const int draft = int(seed % 2) * 2;
    SCOPED_TRACE("seed " + std::to_string(seed) + " draft " + std::to_string(draft));
    const GenerationResult r =
        run_plan({.reasoning_end = " the", .answer = compile(schema)}, seed, draft, 400);
    ASSERT_EQ(r.finish, FinishReason::kStop) << r.text;
    const size_t end = r.text.find(" the");
    ASSERT_NE(end, std::string::npos) << r.text;
    EXPECT_FALSE(json::parse(r.text.substr(0, end), nullptr, false).is_object()) << "free reasoning";
    const std::string answer = r.text.substr(end + 4);
    const json value = json::parse(answer, nullptr, false);
    ASSERT_FALSE(value.is_discarded()) << "not JSON: " << answer;
    EXPECT_EQ(structured::schema_violation(value, schema), "") << answer;
  }
}

}  // namespace
}  // namespace dsv3
