// Constrained decoding end to end on the built-in default model (a tiny model that writes
// broken English, so the constraint does all the work): with several seeds, with and without
// MTP drafts, every output parses and follows its schema, and finishes with "stop".
#include <gtest/gtest.h>

#include "engine/generation.h"
#include "engine/text_model.h"
#include "structured/grammar.h"
#include "structured/schema_validator.h"
#include "structured/token_mask.h"

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
    req.constraint = std::make_shared<structured::CompiledConstraint>(std::move(grammar).value(), trie_);
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
  req.constraint = std::make_shared<structured::CompiledConstraint>(structured::json_object_grammar(), trie_);
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

}  // namespace
}  // namespace dsv3
