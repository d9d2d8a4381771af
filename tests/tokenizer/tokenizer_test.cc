// The DeepSeek-V3 tokenizer against the golden vectors from HF tokenizers
// (tests/data/tokenizer/README.md), plus the API around them.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tokenizer/byte_level.h"

#include "tokenizer_support.h"

namespace dsv3 {
namespace {

using testing::deepseek_dir;
using testing::deepseek_tokenizer;
using testing::read_jsonl;

std::vector<int32_t> ids_of(const nlohmann::json& v) { return v.get<std::vector<int32_t>>(); }

TEST(TokenizerVectors, EncodeDecodeEveryCase) {
  const Tokenizer& tok = deepseek_tokenizer();
  const auto cases = read_jsonl(deepseek_dir() + "/vectors.jsonl");
  ASSERT_EQ(cases.size(), 113u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string text = c["text"];
    const std::vector<int32_t> ids = ids_of(c["ids"]);
    EXPECT_EQ(tok.encode(text), ids);
    EXPECT_EQ(tok.encode(text, /*add_bos=*/true), ids_of(c["ids_bos"]));
    EXPECT_EQ(tok.decode(ids), c["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), c["decoded_skip_special"].get<std::string>());
  }
}

TEST(TokenizerVectors, PiecesAndTokenTexts) {
  const Tokenizer& tok = deepseek_tokenizer();
  for (const auto& c : read_jsonl(deepseek_dir() + "/vectors.jsonl")) {
    SCOPED_TRACE(c["name"].get<std::string>());
    EXPECT_EQ(tok.pieces(c["text"].get<std::string>()), c["pieces"].get<std::vector<std::string>>());
    const std::vector<int32_t> ids = ids_of(c["ids"]);
    const auto tokens = c["tokens"].get<std::vector<std::string>>();
    ASSERT_EQ(ids.size(), tokens.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(tok.token_text(ids[i]), tokens[i]) << "id " << ids[i];
      EXPECT_EQ(tok.token_id(tokens[i]), ids[i]) << "token " << tokens[i];
    }
  }
}

TEST(TokenizerVectors, ChatPromptsWithoutBos) {
  const Tokenizer& tok = deepseek_tokenizer();
  const auto cases = read_jsonl(deepseek_dir() + "/chat.jsonl");
  ASSERT_EQ(cases.size(), 14u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string rendered = c["rendered"];
    EXPECT_EQ(tok.encode(rendered), ids_of(c["ids"]));
    EXPECT_EQ(tok.decode(ids_of(c["ids"])), rendered);
  }
}

TEST(Tokenizer, ConfigAndSpecialTokens) {
  const Tokenizer& tok = deepseek_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 128815u);
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.bos_token(), "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(tok.eos_token(), "<｜end▁of▁sentence｜>");
  EXPECT_TRUE(tok.add_bos_token());
  EXPECT_TRUE(tok.chat_template().starts_with("{% if not add_generation_prompt is defined %}"))
      << tok.chat_template().substr(0, 60);
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_TRUE(tok.is_special(128000));
  EXPECT_TRUE(tok.is_special(128805));  // <|EOT|>
  EXPECT_FALSE(tok.is_special(128803));  // <｜User｜> is added but not special
  EXPECT_FALSE(tok.is_special(1000));
  EXPECT_FALSE(tok.is_special(-1));
  EXPECT_FALSE(tok.is_special(128815));
  EXPECT_EQ(tok.token_id("<｜User｜>"), 128803);
  EXPECT_EQ(tok.token_id("<|EOT|>"), 128805);
  EXPECT_EQ(tok.token_text(128814), "<｜tool▁sep｜>");
  EXPECT_EQ(tok.token_id("no such token"), std::nullopt);
  EXPECT_EQ(tok.token_text(-5), "");
  EXPECT_EQ(tok.token_text(1 << 30), "");
  EXPECT_EQ(tok.token_id("Ġ"), 223);  // byte-level form of " "
  EXPECT_EQ(tok.token_bytes(223), " ");
}

TEST(Tokenizer, EncodeWithBosWhenEmpty) {
  const Tokenizer& tok = deepseek_tokenizer();
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{});
  EXPECT_EQ(tok.encode("", true), std::vector<int32_t>{0});
  EXPECT_EQ(tok.decode(std::vector<int32_t>{}), "");
}

TEST(Tokenizer, DecodeSkipsUnknownIdsAndCheckedRefusesThem) {
  const Tokenizer& tok = deepseek_tokenizer();
  const std::vector<int32_t> hello = tok.encode("Hello world");
  std::vector<int32_t> with_bad = {-1, hello[0], 128815, hello[1], 1 << 30};
  EXPECT_EQ(tok.decode(with_bad), "Hello world");
  Result<std::string> checked = tok.decode_checked(with_bad);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message.find("ids[0] is -1"), std::string::npos)
      << checked.error().message;
  EXPECT_NE(checked.error().message.find("[0, 128815)"), std::string::npos)
      << checked.error().message;
  Result<std::string> ok = tok.decode_checked(hello);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, "Hello world");
}

TEST(Tokenizer, DecodeOfPartialCharacterIsReplacement) {
  const Tokenizer& tok = deepseek_tokenizer();
  // Byte-level tokens for the bytes of "中" (E4 B8 AD).
  const int32_t e4 = *tok.token_id(byte_level_char(0xE4));
  const int32_t b8 = *tok.token_id(byte_level_char(0xB8));
  const int32_t ad = *tok.token_id(byte_level_char(0xAD));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{e4, b8, ad}), "中");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{e4, b8}), "\uFFFD");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{b8, ad}), "\uFFFD\uFFFD");
  const int32_t a = *tok.token_id("a");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{e4, a, ad}), "\uFFFDa\uFFFD");
}

TEST(Tokenizer, InvalidUtf8IsReplacedOrRefused) {
  const Tokenizer& tok = deepseek_tokenizer();
  // One U+FFFD per maximal invalid subpart, as Rust's from_utf8_lossy.
  EXPECT_EQ(tok.encode("ab\xFF cd"), tok.encode("ab\uFFFD cd"));
  EXPECT_EQ(tok.encode("x\xE4\xB8"), tok.encode("x\uFFFD"));
  EXPECT_EQ(tok.encode("\xED\xA0\x80!"), tok.encode("\uFFFD\uFFFD\uFFFD!"));
  Result<std::vector<int32_t>> bad = tok.encode_checked("hello \xC3(");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("offset 6"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("0xC3"), std::string::npos) << bad.error().message;
  Result<std::vector<int32_t>> truncated = tok.encode_checked("abc\xF0\x9F\x98");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message.find("offset 3"), std::string::npos);
  EXPECT_EQ(tok.pieces("ab\xFF cd"), (std::vector<std::string>{"ab", "\uFFFD", " cd"}));
  Result<std::vector<int32_t>> good = tok.encode_checked("héllo 😀", true);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(*good, tok.encode("héllo 😀", true));
}

// Oniguruma's \s is Unicode White_Space: U+0085 is space, U+180E (a format character
// since Unicode 6.3) is not, though PCRE2's own \s says otherwise for both.
TEST(Tokenizer, WhiteSpaceFollowsOniguruma) {
  const Tokenizer& tok = deepseek_tokenizer();
  using Pieces = std::vector<std::string>;
  EXPECT_EQ(tok.pieces("a \u0085 b"), (Pieces{"a", " \u0085", " b"}));
  EXPECT_EQ(tok.pieces("a \u180E b"), (Pieces{"a", " ", "\u180E", " b"}));
  EXPECT_EQ(tok.pieces("a \uFEFF b"), (Pieces{"a", " ", "\uFEFF", " b"}));
  EXPECT_EQ(tok.pieces("a \x1C b"), (Pieces{"a", " ", "\x1C", " b"}));
  EXPECT_EQ(tok.pieces("a \u3000\u2029 b"), (Pieces{"a", " \u3000\u2029", " b"}));
}

TEST(Tokenizer, AddedTokensAreLeftmostLongest) {
  const Tokenizer& tok = deepseek_tokenizer();
  // "<｜tool▁call▁begin｜>" and "<｜tool▁calls▁begin｜>" share a prefix.
  EXPECT_EQ(tok.encode("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"),
            (std::vector<int32_t>{128806, 128808}));
  // An unfinished token is plain text.
  const std::vector<int32_t> partial = tok.encode("<｜User");
  EXPECT_GT(partial.size(), 1u);
  EXPECT_EQ(tok.decode(partial), "<｜User");
  EXPECT_EQ(tok.encode("x<|EOT|>y"), (std::vector<int32_t>{*tok.token_id("x"), 128805,
                                                            *tok.token_id("y")}));
}

// Pieces longer than the scan limit take the heap merge; both must round-trip and agree
// with the same text split into cacheable pieces.
TEST(Tokenizer, LongInputsRoundTrip) {
  const Tokenizer& tok = deepseek_tokenizer();
  const std::vector<std::string> texts = {
      std::string(100000, 'a'), std::string(50000, ' ') + "x", std::string(30000, '\n'),
      std::string(40000, '7'),  "Supercalifragilisticexpialidocious" + std::string(300, 'z'),
  };
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text) << text.substr(0, 20);
    EXPECT_LT(ids.size(), text.size()) << text.substr(0, 20);
  }
  std::string doc;
  for (const auto& c : read_jsonl(deepseek_dir() + "/vectors.jsonl")) doc += c["text"];
  EXPECT_EQ(tok.decode(tok.encode(doc)), doc);
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  const Tokenizer& tok = deepseek_tokenizer();
  const auto cases = read_jsonl(deepseek_dir() + "/vectors.jsonl");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 5; ++round) {
        for (const auto& c : cases) {
          if (tok.encode(c["text"].get<std::string>()) != ids_of(c["ids"])) ++mismatches;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace dsv3
