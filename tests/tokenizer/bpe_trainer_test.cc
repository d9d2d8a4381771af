// The BPE trainer: piece counting against the DeepSeek-V3 tokenizer's own pieces, the
// incremental merge loop against a naive one, and trained tokenizers that load, round-trip
// text, keep DeepSeek's layout, and come out the same every time.
#include "tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/deepseek_format.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_support.h"
#include "tokenizer/trainer_support.h"
#include "tokenizer/utf8.h"

namespace dsv3 {
namespace {

using testing::generated_corpus;
using json = nlohmann::json;

// Piece counts the slow way: the DeepSeek-V3 tokenizer's pieces() of the whole text, less
// the added tokens the trainer cuts out.
PieceCounts reference_counts(const std::string& text) {
  PieceCounts counts;
  for (const std::string& piece : testing::deepseek_tokenizer().pieces(text)) {
    bool added = false;
    for (const auto& list : {deepseek_v3::leading_tokens(), deepseek_v3::trailing_tokens()}) {
      for (const auto& t : list) added |= piece == t.content;
    }
    if (!added) ++counts[piece];
  }
  return counts;
}

// Text that exercises the chunk cuts: line starts of every kind (letters, digits, spaces,
// punctuation, CJK, special tokens), CRLF and whitespace runs.
std::string awkward_text() {
  std::string text;
  const char* lines[] = {"Hello world\n",   "  indented line\n",  "\n",
                         "12345 numbers\n", "日本語のテキスト\n", "\t\ttabs\r\n",
                         "...dots\n",       "<｜User｜>hi\n",     " \n",
                         "(paren) x\n",     "ünïcode\n",          "a\n\n\n  \nb\n"};
  while (text.size() < 200000) {
    for (const char* line : lines) text += line;
    text += generated_corpus(300, text.size());
  }
  return text;
}

TEST(PieceCounter, MatchesTheTokenizerPiecesForAnyChunkingAndThreadCount) {
  const std::string text = awkward_text();
  const PieceCounts expected = reference_counts(text);
  for (const auto& [threads, chunk_bytes] :
       {std::pair{1, 1000}, {3, 1000}, {3, 50}, {2, 1 << 20}}) {
    SCOPED_TRACE(::testing::Message() << threads << " threads, chunks of " << chunk_bytes);
    auto counter = PieceCounter::deepseek_v3();
    ASSERT_TRUE(counter.ok()) << counter.error().message;
    const std::string_view views[] = {text};
    counter->add_texts(views, threads, size_t(chunk_bytes));
    EXPECT_EQ(counter->counts().size(), expected.size());
    for (const auto& [piece, n] : expected) {
      const auto it = counter->counts().find(piece);
      ASSERT_NE(it, counter->counts().end()) << "missing piece '" << piece << "'";
      EXPECT_EQ(it->second, n) << "piece '" << piece << "'";
    }
  }
}

TEST(PieceCounter, ReplacesInvalidUtf8AndSkipsAddedTokens) {
  auto counter = PieceCounter::deepseek_v3();
  ASSERT_TRUE(counter.ok());
  const std::string_view views[] = {"ab\xFF cd<｜User｜>ab<think>"};
  counter->add_texts(views, 1);
  const PieceCounts expected = {{"ab", 2}, {"\xEF\xBF\xBD", 1}, {" cd", 1}};
  EXPECT_EQ(counter->counts(), expected);
}

// The textbook algorithm: recount every pair of every word before each merge.
BpeVocabulary naive_bpe(const PieceCounts& counts, int64_t max_new_tokens, int64_t min_frequency) {
  BpeVocabulary v;
  std::map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; ++b) {
    v.tokens.emplace_back(1, char(b));
    id_of[v.tokens.back()] = b;
  }
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [piece, n] : counts) {
    std::vector<int32_t> s;
    for (char c : piece) s.push_back(uint8_t(c));
    words.emplace_back(s, n);
  }
  int64_t learned = 0;
  while (learned < max_new_tokens) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (const auto& [s, n] : words) {
      for (size_t i = 0; i + 1 < s.size(); ++i) pairs[{s[i], s[i + 1]}] += n;
    }
    const std::pair<int32_t, int32_t>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [p, n] : pairs) {
      const auto key = std::make_pair(v.tokens[size_t(p.first)], v.tokens[size_t(p.second)]);
      if (best == nullptr || n > best_count ||
          (n == best_count &&
           key < std::make_pair(v.tokens[size_t(best->first)], v.tokens[size_t(best->second)]))) {
        best = &p;
        best_count = n;
      }
    }
    if (best == nullptr || best_count < min_frequency) break;
    const auto [a, b] = *best;
    const std::string bytes = v.tokens[size_t(a)] + v.tokens[size_t(b)];
    int32_t m;
    if (id_of.count(bytes)) {
      m = id_of[bytes];
    } else {
      m = int32_t(v.tokens.size());
      v.tokens.push_back(bytes);
      id_of[bytes] = m;
      ++learned;
    }
    v.merges.push_back({a, b, m, best_count});
    for (auto& [s, n] : words) {
      std::vector<int32_t> out;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(m);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = out;
    }
  }
  return v;
}

TEST(TrainBpe, AgreesWithTheNaiveAlgorithm) {
  auto counter = PieceCounter::deepseek_v3();
  ASSERT_TRUE(counter.ok());
  const std::string text = generated_corpus(20000) + "aaaaaaa aaaa abab ababab xyxyxyx";
  const std::string_view views[] = {text};
  counter->add_texts(views, 1);
  for (int64_t min_frequency : {1, 3}) {
    const BpeVocabulary fast =
        train_bpe(counter->counts(), {.max_new_tokens = 400, .min_frequency = min_frequency});
    const BpeVocabulary slow = naive_bpe(counter->counts(), 400, min_frequency);
    ASSERT_EQ(fast.tokens, slow.tokens) << "min_frequency " << min_frequency;
    ASSERT_EQ(fast.merges.size(), slow.merges.size());
    for (size_t i = 0; i < fast.merges.size(); ++i) {
      EXPECT_EQ(fast.merges[i].left, slow.merges[i].left) << "merge " << i;
      EXPECT_EQ(fast.merges[i].right, slow.merges[i].right) << "merge " << i;
      EXPECT_EQ(fast.merges[i].merged, slow.merges[i].merged) << "merge " << i;
      EXPECT_EQ(fast.merges[i].count, slow.merges[i].count) << "merge " << i;
    }
  }
}

TEST(TrainBpe, MergeCountsNeverGrowAndTiesGoLexicographically) {
  // "ab" and "cd" occur equally often: "a"+"b" comes first; then "c"+"d".
  const PieceCounts counts = {{"ab", 5}, {"cd", 5}, {"xy", 2}};
  const BpeVocabulary v = train_bpe(counts, {.max_new_tokens = 10, .min_frequency = 1});
  ASSERT_EQ(v.merges.size(), 3u);
  EXPECT_EQ(v.tokens[size_t(v.merges[0].merged)], "ab");
  EXPECT_EQ(v.tokens[size_t(v.merges[1].merged)], "cd");
  EXPECT_EQ(v.tokens[size_t(v.merges[2].merged)], "xy");
  // min_frequency 3 leaves "xy" (2 occurrences) out; max_new_tokens 1 stops after "ab".
  EXPECT_EQ(train_bpe(counts, {.max_new_tokens = 10, .min_frequency = 3}).merges.size(), 2u);
  EXPECT_EQ(train_bpe(counts, {.max_new_tokens = 1, .min_frequency = 1}).merges.size(), 1u);

  auto counter = PieceCounter::deepseek_v3();
  ASSERT_TRUE(counter.ok());
  const std::string text = generated_corpus(50000);
  const std::string_view views[] = {text};
  counter->add_texts(views, 1);
  const BpeVocabulary big = train_bpe(counter->counts(), {.max_new_tokens = 500});
  for (size_t i = 1; i < big.merges.size(); ++i) {
    EXPECT_LE(big.merges[i].count, big.merges[i - 1].count) << "merge " << i;
  }
}

// Trains a tokenizer on the generated corpus into the test's directory.
class TrainedTokenizer : public testing::TempDirTest {
 protected:
  Result<TokenizerTrainReport> train(const std::string& out, int64_t vocab_size, int threads = 1) {
    const std::vector<std::string> files = {write("a.txt", generated_corpus(150000, 1)),
                                            write("b.txt", generated_corpus(50000, 2))};
    return train_tokenizer(files, path(out), {.vocab_size = vocab_size, .num_threads = threads});
  }
};

TEST_F(TrainedTokenizer, LoadsAndRoundTripsText) {
  const auto report = train("tok", 700);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->vocab_size, 700);
  auto tok = Tokenizer::load(path("tok"));
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(tok->vocab_size(), 700u);
  const std::vector<std::string> texts = {
      "",
      "The man said that the world was old.",
      "  leading and trailing spaces  ",
      "line one\nline two\r\n\n\n\ttabbed\n",
      "café naïve Zürich über 日本語のテキスト 한국어 Ελληνικά русский",
      "emoji 🙂 👩‍👩‍👧 🇩🇪 👍🏽 and a combining e\u0301",
      "numbers 1234567 3.14159 -42 1e10",
      "<｜User｜>hi<｜Assistant｜>hello<｜end▁of▁sentence｜><think>hmm</think>",
      "punctuation!!! ... ??? \"quoted\" (paren) [bracket] {brace} a+b=c",
      std::string("nul\0byte and \x7F del", 19),
      generated_corpus(5000, 9),
  };
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tok->encode(text);
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < 700) << id;
    EXPECT_EQ(tok->decode(ids), text);
  }
  const std::string invalid = "bad \xC3\x28 bytes \xFF";
  EXPECT_EQ(tok->decode(tok->encode(invalid)), utf8_lossy(invalid));
  // Random code points from all planes.
  uint64_t state = 7;
  for (int round = 0; round < 50; ++round) {
    std::string text;
    for (int i = 0; i < 40; ++i) {
      state = state * 6364136223846793005ull + 1;
      uint32_t cp = uint32_t(state >> 40) % 0x110000;
      if (cp >= 0xD800 && cp < 0xE000) cp = 'x';
      utf8_append(cp, text);
    }
    EXPECT_EQ(tok->decode(tok->encode(text)), text);
  }
}

TEST_F(TrainedTokenizer, KeepsDeepSeekLayoutAndFormat) {
  ASSERT_TRUE(train("tok", 600).ok());
  auto tok = Tokenizer::load(path("tok"));
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(tok->token_id("<｜begin▁of▁sentence｜>"), 0);
  EXPECT_EQ(tok->token_id("<｜end▁of▁sentence｜>"), 1);
  EXPECT_EQ(tok->token_id("<｜▁pad▁｜>"), 2);
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_TRUE(tok->add_bos_token());
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(tok->token_text(3 + b), byte_level_char(uint8_t(b))) << b;
  }
  // The added tokens close the vocabulary, with DeepSeek's flags.
  const Tokenizer& ds = testing::deepseek_tokenizer();
  int32_t id = 600 - int32_t(deepseek_v3::trailing_tokens().size());
  for (const auto& t : deepseek_v3::trailing_tokens()) {
    EXPECT_EQ(tok->token_id(t.content), id) << t.content;
    if (const auto ds_id = ds.token_id(t.content)) {
      EXPECT_EQ(tok->is_special(id), ds.is_special(*ds_id)) << t.content;
    } else {
      EXPECT_TRUE(t.content == "<think>" || t.content == "</think>") << t.content;
    }
    ++id;
  }
  EXPECT_EQ(tok->encode("<｜User｜>", false), std::vector<int32_t>{*tok->token_id("<｜User｜>")});

  // The pipeline parts and the chat template are DeepSeek's, unchanged.
  const json ours = json::parse(slurp(path("tok/tokenizer.json")));
  const json theirs = json::parse(slurp(testing::deepseek_dir() + "/tokenizer.json"));
  for (const char* key : {"normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    EXPECT_EQ(ours[key], theirs[key]) << key;
  }
  for (const char* key : {"type", "dropout", "unk_token", "continuing_subword_prefix",
                          "end_of_word_suffix", "fuse_unk", "byte_fallback"}) {
    EXPECT_EQ(ours["model"][key], theirs["model"][key]) << key;
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(ours["added_tokens"][i], theirs["added_tokens"][i]);
  const json config = json::parse(slurp(path("tok/tokenizer_config.json")));
  const json ds_config = json::parse(slurp(testing::deepseek_dir() + "/tokenizer_config.json"));
  EXPECT_EQ(config["chat_template"], ds_config["chat_template"]);
  EXPECT_EQ(tok->chat_template(), ds_config["chat_template"].get<std::string>());
  EXPECT_EQ(config["bos_token"], ds_config["bos_token"]);
  EXPECT_EQ(config["eos_token"], ds_config["eos_token"]);
  EXPECT_EQ(config["pad_token"]["content"], "<｜▁pad▁｜>");
}

TEST_F(TrainedTokenizer, FrequentWordsBecomeSingleTokens) {
  ASSERT_TRUE(train("tok", 700).ok());
  auto tok = Tokenizer::load(path("tok"));
  ASSERT_TRUE(tok.ok());
  for (const char* word : {" the", " of", " and", " to", "The", " was", " that"}) {
    EXPECT_EQ(tok->encode(word).size(), 1u) << "'" << word << "'";
  }
  // Rare words still split into several tokens.
  EXPECT_GT(tok->encode(" xylophone").size(), 2u);
  // Compression on held-out generated text: well above one byte per token.
  const std::string text = generated_corpus(20000, 5);
  EXPECT_GT(double(text.size()) / double(tok->encode(text).size()), 3.0);
}

TEST_F(TrainedTokenizer, IsDeterministic) {
  ASSERT_TRUE(train("one", 650, 1).ok());
  ASSERT_TRUE(train("two", 650, 4).ok());
  EXPECT_EQ(slurp(path("one/tokenizer.json")), slurp(path("two/tokenizer.json")));
  EXPECT_EQ(slurp(path("one/tokenizer_config.json")), slurp(path("two/tokenizer_config.json")));
  EXPECT_GT(slurp(path("one/tokenizer.json")).size(), 10000u);
}

TEST_F(TrainedTokenizer, StopsWhenTheTextRunsOutOfPairs) {
  const std::vector<std::string> files = {write("tiny.txt", "abc abc abc")};
  const auto report = train_tokenizer(files, path("tok"), {.vocab_size = 5000});
  ASSERT_TRUE(report.ok()) << report.error().message;
  // "ab", "abc", " a"+"bc"... only pairs seen twice or more are merged.
  EXPECT_LT(report->vocab_size, 5000);
  auto tok = Tokenizer::load(path("tok"));
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(int64_t(tok->vocab_size()), report->vocab_size);
  EXPECT_EQ(tok->encode(" abc").size(), 1u);
}

TEST_F(TrainedTokenizer, LeavesValidationDocumentsOut) {
  // Ten files; a word repeated only in the held-out one must not become a token.
  auto split = split_train_validation(10, 0.1, 3);
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->validation.size(), 1u);
  std::vector<std::string> files;
  for (size_t i = 0; i < 10; ++i) {
    std::string text = generated_corpus(5000, i + 1);
    for (int r = 0; r < 100 && i == split->validation[0]; ++r) text += " qzxqzx";
    if (i == split->train[0]) {
      for (int r = 0; r < 100; ++r) text += " vwkvwk";
    }
    files.push_back(write("f" + std::to_string(i) + ".txt", text));
  }
  const auto report = train_tokenizer(files, path("tok"),
                                      {.vocab_size = 600, .validation_fraction = 0.1, .seed = 3});
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->num_held_out_documents, 1);
  auto tok = Tokenizer::load(path("tok"));
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(tok->encode(" vwkvwk").size(), 1u);
  EXPECT_GT(tok->encode(" qzxqzx").size(), 1u);
}

TEST_F(TrainedTokenizer, RejectsBadInputs) {
  const std::string good = write("good.txt", "some text here");
  auto small = train_tokenizer(std::vector<std::string>{good}, path("tok"),
                               {.vocab_size = min_vocab_size() - 1});
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find("too small"), std::string::npos) << small.error().message;
  EXPECT_NE(small.error().message.find(std::to_string(min_vocab_size())), std::string::npos);
  EXPECT_EQ(min_vocab_size(), 3 + 256 + 17);

  auto missing = train_tokenizer(std::vector<std::string>{good, path("nope.txt")}, path("tok"),
                                 {.vocab_size = 1000});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("nope.txt"), std::string::npos) << missing.error().message;

  auto empty = train_tokenizer(std::vector<std::string>{write("empty.txt", "")}, path("tok"),
                               {.vocab_size = 1000});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("no text"), std::string::npos) << empty.error().message;

  auto none = train_tokenizer(std::vector<std::string>{}, path("tok"), {.vocab_size = 1000});
  ASSERT_FALSE(none.ok());
  // Nothing was written for any of them.
  EXPECT_FALSE(std::filesystem::exists(path("tok")));
}

}  // namespace
}  // namespace dsv3
