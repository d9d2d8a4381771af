// The tokenizer and chat template carried in GGUF metadata (written from
// tokenizer.json the way llama.cpp's converter does) against the same tokenizer
// read from its JSON files, and a whole GGUF model (the built-in default) used
// for chat with nothing else.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/gguf_tokenizer.h"
#include "engine/text_model.h"
#include "io/gguf_writer.h"
#include "model/gguf_convert.h"
#include "model/gguf_tokenizer.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

const std::string kDefaultModel =
    std::string(DSV3_SOURCE_DIR) + "/models/default";
const std::string kDeepseekV3Tokenizer =
    testing::test_data_dir() + "/tokenizer/deepseek-v3";

struct TempFile {
  std::string path;
  explicit TempFile(const std::string &name)
      : path((fs::temp_directory_path() /
              ("dsv3_gguf_tok_" + std::to_string(::getpid()) + "_" + name))
                 .string()) {}
  ~TempFile() { fs::remove(path); }
};

// A metadata-only GGUF file with the tokenizer of `dir`.
Tokenizer gguf_round_trip(const std::string &dir, const TempFile &file) {
  GgufWriter w;
  auto wrote = write_tokenizer_metadata(dir, w);
  EXPECT_TRUE(wrote.ok() && *wrote)
      << (wrote.ok() ? "no tokenizer.json" : wrote.error().message);
  EXPECT_TRUE(w.write(file.path).ok());
  auto t = load_gguf_tokenizer(file.path);
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(t).value();
}

void expect_same_tokenizer(const Tokenizer &a, const Tokenizer &b) {
  ASSERT_EQ(a.vocab_size(), b.vocab_size());
  EXPECT_EQ(a.bos_id(), b.bos_id());
  EXPECT_EQ(a.eos_id(), b.eos_id());
  EXPECT_EQ(a.bos_token(), b.bos_token());
  EXPECT_EQ(a.add_bos_token(), b.add_bos_token());
  EXPECT_EQ(a.chat_template(), b.chat_template());
  for (int32_t id = 0; id < int32_t(a.vocab_size()); ++id) {
    ASSERT_EQ(a.token_bytes(id), b.token_bytes(id)) << "id " << id;
    ASSERT_EQ(a.is_special(id), b.is_special(id)) << "id " << id;
  }
  const std::vector<std::string> texts = {
      "Hello, world! It's 2026 and the temperature is -3.5 degrees.",
      "  leading spaces\n\nnew lines\ttabs 123456789 numbers",
      "中文和日本語のテキスト, émojis 🙂 and <｜begin▁of▁sentence｜> as "
      "text",
      "def f(x):\n    return x ** 2  # code\n"};
  for (const auto &text : texts) {
    const auto ids = a.encode(text, true);
    EXPECT_EQ(ids, b.encode(text, true)) << text;
    EXPECT_EQ(a.decode(ids), b.decode(ids));
  }
}

TEST(GgufTokenizer, DefaultModelsTokenizerSurvivesTheRoundTrip) {
  TempFile file("default_tok.gguf");
  const Tokenizer from_gguf = gguf_round_trip(kDefaultModel, file);
  auto original = Tokenizer::load(kDefaultModel);
  ASSERT_TRUE(original.ok()) << original.error().message;
  expect_same_tokenizer(*original, from_gguf);
}

TEST(GgufTokenizer, DeepseekV3TokenizerSurvivesTheRoundTrip) {
  TempFile file("v3_tok.gguf");
  const Tokenizer from_gguf = gguf_round_trip(kDeepseekV3Tokenizer, file);
  auto original = Tokenizer::load(kDeepseekV3Tokenizer);
  ASSERT_TRUE(original.ok()) << original.error().message;
  EXPECT_GT(original->vocab_size(), 128000u);
  expect_same_tokenizer(*original, from_gguf);
}

TEST(GgufTokenizer, RefusesOtherPreTokenizersAndModels) {
  TempFile file("bad_tok.gguf");
  for (const auto &[key, value, message] :
       {std::tuple{"tokenizer.ggml.pre", "llama-bpe",
                   "tokenizer.ggml.pre is 'llama-bpe', expected 'deepseek-v3'"},
        std::tuple{"tokenizer.ggml.model", "llama",
                   "tokenizer.ggml.model is 'llama', expected 'gpt2'"}}) {
    GgufWriter w;
    w.add_string("tokenizer.ggml.model",
                 std::string(key) == "tokenizer.ggml.model" ? value : "gpt2");
    w.add_string("tokenizer.ggml.pre", std::string(key) == "tokenizer.ggml.pre"
                                           ? value
                                           : "deepseek-v3");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    w.add_int32_array("tokenizer.ggml.token_type", {1});
    w.add_string_array("tokenizer.ggml.merges", {});
    ASSERT_TRUE(w.write(file.path).ok());
    auto t = load_gguf_tokenizer(file.path);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find(message), std::string::npos)
        << t.error().message;
  }
  auto missing = load_gguf_tokenizer(file.path + ".absent.gguf");
  EXPECT_FALSE(missing.ok());
}

// `dsv3 chat --model FILE.gguf`: the model, tokenizer and chat template all
// from one file.
TEST(GgufTokenizer, DefaultModelChatsFromOneGgufFile) {
  TempFile file("default.gguf");
  auto s = convert_to_gguf({.in_dir = kDefaultModel,
                            .out_path = file.path,
                            .type = GgmlType::kBF16});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->tokenizer);
  auto gguf =
      TextModel::load(file.path, "", ModelOptions{.max_positions = 128});
  ASSERT_TRUE(gguf.ok()) << gguf.error().message;
  auto dir =
      TextModel::load(kDefaultModel, "", ModelOptions{.max_positions = 128});
  ASSERT_TRUE(dir.ok()) << dir.error().message;
  ASSERT_TRUE((*gguf)->has_chat_template());
  const auto messages = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me about the city."}])");
  auto ids = (*gguf)->encode_chat(messages, true);
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_EQ(*ids, (*dir)->encode_chat(messages, true).value());

  // Greedy continuation: the same tokens from both.
  auto greedy = [&](const Model &m) {
    std::vector<int32_t> tokens = *ids;
    KvCache cache = m.new_cache();
    Arena arena;
    std::vector<float> logits(size_t(m.config().vocab_size));
    std::vector<int32_t> out;
    std::span<const int32_t> step = tokens;
    for (int i = 0; i < 8; ++i) {
      m.forward({.tokens = step,
                 .cache = &cache,
                 .arena = &arena,
                 .logits_out = logits.data(),
                 .last_logits_only = true});
      out.push_back(int32_t(std::max_element(logits.begin(), logits.end()) -
                            logits.begin()));
      step = std::span(out).subspan(out.size() - 1);
    }
    return out;
  };
  EXPECT_EQ(greedy((*gguf)->model()), greedy((*dir)->model()));
}

} // namespace
} // namespace dsv3
