#include "tokenizer/stream_decoder.h"

#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"
#include "tokenizer_support.h"

namespace dsv3 {
namespace {

using testing::deepseek_dir;
using testing::deepseek_tokenizer;
using testing::read_jsonl;

int32_t byte_token(uint8_t b) { return *deepseek_tokenizer().token_id(byte_level_char(b)); }

// Feeds `ids` one by one; returns each step's output.
std::vector<std::string> stream(const std::vector<int32_t>& ids, bool skip_special = false) {
  StreamDecoder decoder(deepseek_tokenizer(), skip_special);
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(decoder.feed(id));
  chunks.push_back(decoder.flush());
  return chunks;
}

std::string join(const std::vector<std::string>& chunks) {
  std::string s;
  for (const std::string& c : chunks) s += c;
  return s;
}

TEST(StreamDecoder, CharacterSplitAcrossTokensIsHeldBack) {
  StreamDecoder decoder(deepseek_tokenizer());
  // "中" is E4 B8 AD; feed it a byte-level token at a time.
  EXPECT_EQ(decoder.feed(byte_token(0xE4)), "");
  EXPECT_EQ(decoder.pending_bytes(), 1u);
  EXPECT_EQ(decoder.feed(byte_token(0xB8)), "");
  EXPECT_EQ(decoder.pending_bytes(), 2u);
  EXPECT_EQ(decoder.feed(byte_token(0xAD)), "中");
  EXPECT_EQ(decoder.pending_bytes(), 0u);
  // "😀" is F0 9F 98 80, here after ASCII that is emitted at once.
  EXPECT_EQ(decoder.feed(*deepseek_tokenizer().token_id("hi")), "hi");
  EXPECT_EQ(decoder.feed(byte_token(0xF0)), "");
  EXPECT_EQ(decoder.feed(byte_token(0x9F)), "");
  EXPECT_EQ(decoder.feed(byte_token(0x98)), "");
  EXPECT_EQ(decoder.feed(byte_token(0x80)), "😀");
  EXPECT_EQ(decoder.flush(), "");
}

TEST(StreamDecoder, EmojiAndCjkFromRealEncodings) {
  const Tokenizer& tok = deepseek_tokenizer();
  for (std::string text : {"👍🏽 ok", "👨‍👩‍👧‍👦", "🇯🇵🇫🇷", "龘𠀀 中文分词", "🫠🦩 한국어 text"}) {
    const std::vector<int32_t> ids = tok.encode(text);
    const std::vector<std::string> chunks = stream(ids);
    EXPECT_EQ(join(chunks), text);
    bool held_back = false;
    for (size_t i = 0; i + 1 < chunks.size(); ++i) {
      EXPECT_FALSE(utf8_first_invalid(chunks[i]).has_value()) << text << " step " << i;
      held_back |= chunks[i].empty();
    }
    // Each of these texts has a character that byte-level BPE splits over two tokens.
    EXPECT_TRUE(held_back) << text << " " << ::testing::PrintToString(ids);
  }
}

TEST(StreamDecoder, StreamEqualsDecodeForEveryVector) {
  const Tokenizer& tok = deepseek_tokenizer();
  for (const auto& c : read_jsonl(deepseek_dir() + "/vectors.jsonl")) {
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(join(stream(ids)), tok.decode(ids)) << c["name"];
    EXPECT_EQ(join(stream(ids, true)), tok.decode(ids, true)) << c["name"];
  }
}

TEST(StreamDecoder, FlushReplacesUnfinishedCharacter) {
  StreamDecoder decoder(deepseek_tokenizer());
  EXPECT_EQ(decoder.feed(byte_token('a')), "a");
  EXPECT_EQ(decoder.feed(byte_token(0xF0)), "");
  EXPECT_EQ(decoder.feed(byte_token(0x9F)), "");
  EXPECT_EQ(decoder.flush(), kReplacementChar);
  EXPECT_EQ(decoder.pending_bytes(), 0u);
  EXPECT_EQ(decoder.feed(byte_token('b')), "b");  // usable after flush
}

TEST(StreamDecoder, InvalidBytesComeOutAtOnce) {
  StreamDecoder decoder(deepseek_tokenizer());
  EXPECT_EQ(decoder.feed(byte_token(0xFF)), kReplacementChar);  // never valid in UTF-8
  EXPECT_EQ(decoder.feed(byte_token(0xE4)), "");
  // 'x' cannot continue E4: the held byte becomes U+FFFD and 'x' follows.
  EXPECT_EQ(decoder.feed(byte_token('x')), std::string(kReplacementChar) + "x");
  EXPECT_EQ(decoder.feed(byte_token(0x80)), kReplacementChar);  // stray continuation
}

TEST(StreamDecoder, SkipsSpecialAndUnknownIds) {
  const Tokenizer& tok = deepseek_tokenizer();
  StreamDecoder keep(tok);
  StreamDecoder skip(tok, /*skip_special=*/true);
  EXPECT_EQ(keep.feed(tok.bos_id()), tok.bos_token());
  EXPECT_EQ(skip.feed(tok.bos_id()), "");
  EXPECT_EQ(skip.feed(128803), "<｜User｜>");  // added but not special
  EXPECT_EQ(keep.feed(-3), "");
  EXPECT_EQ(keep.feed(int32_t(tok.vocab_size())), "");
}

}  // namespace
}  // namespace dsv3
