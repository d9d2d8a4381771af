// Constrained decoding's cost per token with the DeepSeek-V3 tokenizer (129k tokens): the
// token mask for the matcher's state (from the cache or a walk of the vocabulary trie) applied
// to a row of logits, then the matcher moved past the token, over the tokens of a document a
// model might write, cold and warm (see BM_JsonMaskPerToken). Figures: CPU time per token.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "structured/grammar.h"
#include "structured/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {
namespace {

std::string mask_tokenizer_dir() {
  if (const char* env = std::getenv("DSV3_TOKENIZER_DIR")) return env;
  return std::string(DSV3_TEST_DATA_DIR) + "/tokenizer/deepseek-v3";
}

struct MaskFixture {
  Tokenizer tokenizer;
  std::shared_ptr<const structured::TokenTrie> trie;
  structured::Grammar grammar;
  std::vector<int32_t> document;  // the tokens of a document of the schema, then EOS
};

const char* const kTypicalSchema = R"({"type": "object", "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "email": {"type": "string"},
    "verified": {"type": "boolean"},
    "role": {"enum": ["admin", "editor", "viewer"]},
    "address": {"type": "object", "properties": {
        "street": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string"}},
        "required": ["street", "city", "zip"], "additionalProperties": false},
    "scores": {"type": "array", "items": {"type": "number"}},
    "tags": {"type": "array", "items": {"type": "string"}}},
  "required": ["name", "age", "email", "verified", "role", "address", "scores", "tags"],
  "additionalProperties": false})";

const char* const kTypicalDocument =
    R"({"name": "Ada Lovelace", "age": 36, "email": "ada@example.com", "verified": true, )"
    R"("role": "editor", "address": {"street": "12 St James's Square", "city": "London", )"
    R"("zip": "SW1Y 4JH"}, "scores": [9.5, 7.25, 10, -3e2], "tags": ["math", "poetry", )"
    R"("analytical engine", "caf\u00e9", "notes on the \"engine\""]})";

const MaskFixture& fixture() {
  static const MaskFixture* f = [] {
    auto* m = new MaskFixture{.tokenizer = Tokenizer::load(mask_tokenizer_dir()).value()};
    m->trie = structured::TokenTrie::build(m->tokenizer);
    m->grammar = structured::compile_json_schema(nlohmann::ordered_json::parse(kTypicalSchema)).value();
    m->document = m->tokenizer.encode(kTypicalDocument);
    m->document.push_back(m->tokenizer.eos_id());
    return m;
  }();
  return *f;
}

// One document: mask, apply, accept, for every token. Returns the tokens walked.
size_t constrain_document(const std::shared_ptr<const structured::CompiledConstraint>& c,
                          std::vector<float>& logits) {
  structured::TokenConstraint tc(c);
  for (int32_t t : fixture().document) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    tc.apply(logits);
    DSV3_CHECK(logits[size_t(t)] == 0.0f, "the mask forbids token %d of the document", int(t));
    DSV3_CHECK(tc.accept(t), "token %d refused", int(t));
  }
  DSV3_CHECK(tc.ended(), "the document did not end");
  return fixture().document.size();
}

// Arg 0 "cold": a new schema (its masks computed as states come), on a vocabulary that has
// served other schemas (the masks of tokens inside plain strings are shared by all of them);
// 1 "warm": the schema's masks cached by earlier documents; 2 "first": a vocabulary trie
// fresh too, as for the first constrained request after the server starts (the trie's own
// build time left out).
void BM_JsonMaskPerToken(benchmark::State& state) {
  const MaskFixture& f = fixture();
  const int64_t mode = state.range(0);
  std::vector<float> logits(129280);  // DeepSeek-V3's LM head rows (the vocabulary, padded)
  auto shared = std::make_shared<structured::CompiledConstraint>(f.grammar, f.trie);
  constrain_document(shared, logits);
  size_t tokens = 0;
  for (auto _ : state) {
    std::shared_ptr<const structured::CompiledConstraint> c = shared;
    if (mode == 0) c = std::make_shared<structured::CompiledConstraint>(f.grammar, f.trie);
    if (mode == 2) {
      state.PauseTiming();
      auto trie = structured::TokenTrie::build(f.tokenizer);
      state.ResumeTiming();
      c = std::make_shared<structured::CompiledConstraint>(f.grammar, trie);
    }
    tokens += constrain_document(c, logits);
  }
  // Seconds per token (printed with an SI prefix: 20u is 20 microseconds).
  state.counters["per_token"] =
      benchmark::Counter(double(tokens), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["doc_tokens"] = double(f.document.size());
  state.SetLabel(mode == 0 ? "cold: new schema" : mode == 1 ? "warm: cached schema" : "first: new trie");
}
BENCHMARK(BM_JsonMaskPerToken)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

void BM_TokenTrieBuild(benchmark::State& state) {
  const MaskFixture& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(structured::TokenTrie::build(f.tokenizer));
}
BENCHMARK(BM_TokenTrieBuild)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dsv3
