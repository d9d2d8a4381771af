// Tokenizer::load on small hand-written tokenizer files: a working one, and broken or
// unsupported ones that must be refused with a message naming the file, field and value.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A byte-level BPE: the 256 byte tokens (id = byte), "he", "ll", "hell", and <s>/</s>.
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[std::string(byte_level_char(uint8_t(b)))] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {{{"id", 300}, {"content", "<s>"}, {"special", true}, {"lstrip", false},
         {"rstrip", false}, {"single_word", false}, {"normalized", false}},
        {{"id", 301}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", {json::array({"h", "e"}), "l l", "he ll"}}}},
  };
}

json tiny_config() {
  return {{"bos_token", "<s>"},
          {"eos_token", {{"content", "</s>"}, {"lstrip", false}}},
          {"add_bos_token", false}};
}

// A fresh directory per test, removed afterwards.
class TokenizerLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("dsv3_tok_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  void write_both(const json& tokenizer, const json& config) {
    write("tokenizer.json", tokenizer.dump());
    write("tokenizer_config.json", config.dump());
  }
  // Loads and expects an error message containing every one of `parts`.
  void expect_error(std::initializer_list<std::string> parts) {
    Result<Tokenizer> t = Tokenizer::load(dir_.string());
    ASSERT_FALSE(t.ok()) << "loaded although it should not";
    for (const std::string& part : parts) {
      EXPECT_NE(t.error().message.find(part), std::string::npos)
          << "message: " << t.error().message << "\nmissing: " << part;
    }
  }

  fs::path dir_;
};

TEST_F(TokenizerLoad, TinyTokenizerWorks) {
  json config = tiny_config();
  config["chat_template"] = json::array({{{"name", "tool_use"}, {"template", "T"}},
                                         {{"name", "default"}, {"template", "D"}}});
  write_both(tiny_tokenizer(), config);
  Result<Tokenizer> t = Tokenizer::load(dir_.string());
  ASSERT_TRUE(t.ok()) << t.error().message;
  // "hello": h e -> he, l l -> ll, he ll -> hell; then "o". GPT-2 regex splits " world".
  EXPECT_EQ(t->encode("hello"), (std::vector<int32_t>{258, 'o'}));
  const int32_t space = *t->token_id("Ġ");
  EXPECT_EQ(t->encode("he", true), (std::vector<int32_t>{300, 256}));
  EXPECT_EQ(t->encode("<s>hell hello"), (std::vector<int32_t>{300, 258, space, 258, 'o'}));
  EXPECT_EQ(t->decode(t->encode("<s>hi there</s>")), "<s>hi there</s>");
  EXPECT_EQ(t->decode(t->encode("<s>hi</s>"), true), "hi");
  EXPECT_EQ(t->bos_id(), 300);
  EXPECT_EQ(t->eos_id(), 301);
  EXPECT_EQ(t->eos_token(), "</s>");
  EXPECT_FALSE(t->add_bos_token());
  EXPECT_EQ(t->chat_template(), "D");
  EXPECT_EQ(t->vocab_size(), 302u);
  EXPECT_EQ(t->token_text(280), "");  // a gap in the ids
}

TEST_F(TokenizerLoad, IgnoreMergesTakesWholeVocabTokens) {
  json tok = tiny_tokenizer();
  tok["model"]["vocab"]["hello"] = 259;  // no merge path leads to it
  tok["model"]["ignore_merges"] = true;
  write_both(tok, tiny_config());
  Result<Tokenizer> t = Tokenizer::load(dir_.string());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->encode("hello"), std::vector<int32_t>{259});
}

TEST_F(TokenizerLoad, MissingDirectoryOrFile) {
  fs::remove_all(dir_);
  expect_error({"tokenizer.json", "cannot open"});
  fs::create_directories(dir_);
  write("tokenizer.json", tiny_tokenizer().dump());
  expect_error({"tokenizer_config.json", "cannot open"});
}

TEST_F(TokenizerLoad, BadJson) {
  write("tokenizer.json", "{\"model\": {\"type\": \"BPE\",");
  write("tokenizer_config.json", tiny_config().dump());
  expect_error({"tokenizer.json", "not valid JSON"});
  write("tokenizer.json", "[1, 2]");
  expect_error({"tokenizer.json", "top level", "expected a JSON object"});
}

// nlohmann's parser throws out_of_range, not parse_error, for a number past double's range
// (found by fuzz/tokenizer_fuzz.cc: it ended the process).
TEST_F(TokenizerLoad, NumberOutOfRangeIsBadJson) {
  write("tokenizer.json", tiny_tokenizer().dump());
  write("tokenizer_config.json", R"({"bos_token": "<s>", "model_max_length": 1e999})");
  expect_error({"tokenizer_config.json", "not valid JSON", "number overflow"});
  write("tokenizer.json", R"({"version": 55555555555555550000000000000000e0014248169371386802})");
  write("tokenizer_config.json", tiny_config().dump());
  expect_error({"tokenizer.json", "not valid JSON", "number overflow"});
}

TEST_F(TokenizerLoad, UnsupportedModelType) {
  json tok = tiny_tokenizer();
  tok["model"]["type"] = "WordPiece";
  write_both(tok, tiny_config());
  expect_error({"tokenizer.json", "model.type", "\"WordPiece\"", "expected \"BPE\""});
}

TEST_F(TokenizerLoad, UnsupportedModelOptions) {
  json tok = tiny_tokenizer();
  tok["model"]["byte_fallback"] = true;
  write_both(tok, tiny_config());
  expect_error({"model.byte_fallback", "true", "expected false"});
  tok = tiny_tokenizer();
  tok["model"]["dropout"] = 0.1;
  write_both(tok, tiny_config());
  expect_error({"model.dropout", "0.1"});
  tok = tiny_tokenizer();
  tok["model"]["continuing_subword_prefix"] = "##";
  write_both(tok, tiny_config());
  expect_error({"model.continuing_subword_prefix", "\"##\""});
}

TEST_F(TokenizerLoad, UnsupportedPipelineParts) {
  json tok = tiny_tokenizer();
  tok["normalizer"] = {{"type", "NFC"}};
  write_both(tok, tiny_config());
  expect_error({"normalizer", "NFC", "normalizers are not supported"});
  tok = tiny_tokenizer();
  tok["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers", {{{"type", "Whitespace"}}, tiny_tokenizer()["pre_tokenizer"]}}};
  write_both(tok, tiny_config());
  expect_error({"pre_tokenizer.pretokenizers[0].type", "\"Whitespace\""});
  tok = tiny_tokenizer();
  tok["pre_tokenizer"]["add_prefix_space"] = true;
  write_both(tok, tiny_config());
  expect_error({"pre_tokenizer.add_prefix_space", "expected false"});
  tok = tiny_tokenizer();
  tok["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
  write_both(tok, tiny_config());
  expect_error({"pre_tokenizer", "ByteLevel"});
  tok = tiny_tokenizer();
  tok["decoder"] = {{"type", "WordPiece"}};
  write_both(tok, tiny_config());
  expect_error({"decoder", "WordPiece", "ByteLevel"});
}

TEST_F(TokenizerLoad, BadSplit) {
  json tok = tiny_tokenizer();
  json byte_level = tok["pre_tokenizer"];
  byte_level["use_regex"] = false;
  json split = {{"type", "Split"}, {"pattern", {{"Regex", "[a-"}}}, {"behavior", "Isolated"}};
  tok["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
  write_both(tok, tiny_config());
  expect_error({"tokenizer.json", "regex \"[a-\"", "does not compile"});
  split["pattern"]["Regex"] = "\\s+";
  split["behavior"] = "Removed";
  tok["pre_tokenizer"]["pretokenizers"][0] = split;
  write_both(tok, tiny_config());
  expect_error({"pre_tokenizer.pretokenizers[0].behavior", "\"Removed\"", "\"Isolated\""});
}

TEST_F(TokenizerLoad, BadVocabMergesAndAddedTokens) {
  json tok = tiny_tokenizer();
  tok["model"]["merges"].push_back("he zz");
  write_both(tok, tiny_config());
  expect_error({"model.merges[3]", "\"he zz\"", "model.vocab"});
  tok = tiny_tokenizer();
  tok["model"]["merges"].push_back("hell");
  write_both(tok, tiny_config());
  expect_error({"model.merges[3]", "two tokens"});
  tok = tiny_tokenizer();
  tok["model"]["vocab"].erase(std::string(byte_level_char(0x00)));
  write_both(tok, tiny_config());
  expect_error({"model.vocab has no token for byte 0"});
  tok = tiny_tokenizer();
  tok["model"]["vocab"]["x2"] = "seven";
  write_both(tok, tiny_config());
  expect_error({"model.vocab[\"x2\"]", "\"seven\""});
  tok = tiny_tokenizer();
  tok["added_tokens"][1]["lstrip"] = true;
  write_both(tok, tiny_config());
  expect_error({"added_tokens[1].lstrip", "true", "expected false"});
}

TEST_F(TokenizerLoad, BadConfig) {
  json config = tiny_config();
  config["bos_token"] = "<bos>";
  write_both(tiny_tokenizer(), config);
  expect_error({"tokenizer_config.json", "bos_token", "\"<bos>\"", "a token of tokenizer.json"});
  config = tiny_config();
  config["eos_token"] = 5;
  write_both(tiny_tokenizer(), config);
  expect_error({"tokenizer_config.json", "eos_token", "5"});
  config = tiny_config();
  config["add_bos_token"] = "yes";
  write_both(tiny_tokenizer(), config);
  expect_error({"add_bos_token", "\"yes\""});
  config = tiny_config();
  config.erase("bos_token");
  config.erase("eos_token");
  write_both(tiny_tokenizer(), config);
  Result<Tokenizer> t = Tokenizer::load(dir_.string());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->encode("he", true), std::vector<int32_t>{256});  // no BOS to add
  EXPECT_EQ(t->chat_template(), "");
}

}  // namespace
}  // namespace dsv3
