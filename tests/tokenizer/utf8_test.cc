#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"

namespace dsv3 {
namespace {

const std::string R(kReplacementChar);

TEST(Utf8, FirstInvalid) {
  EXPECT_EQ(utf8_first_invalid(""), std::nullopt);
  EXPECT_EQ(utf8_first_invalid("plain ascii"), std::nullopt);
  EXPECT_EQ(utf8_first_invalid("é中😀\u0085\U0010FFFF"), std::nullopt);
  EXPECT_EQ(utf8_first_invalid("ab\xC0\xAF"), 2u);          // overlong '/'
  EXPECT_EQ(utf8_first_invalid("abc\xE0\x9F\x80"), 3u);     // overlong 3-byte form
  EXPECT_EQ(utf8_first_invalid("\xED\xA0\x80"), 0u);        // surrogate U+D800
  EXPECT_EQ(utf8_first_invalid("x\xF4\x90\x80\x80"), 1u);   // above U+10FFFF
  EXPECT_EQ(utf8_first_invalid("xy\xF0\x9F\x98"), 2u);      // truncated at the end
  EXPECT_EQ(utf8_first_invalid("\x80"), 0u);                // lone continuation
  EXPECT_EQ(utf8_first_invalid("ok\xFE"), 2u);
}

// Unicode's "maximal subpart" practice (the W3C/WHATWG test cases), as from_utf8_lossy.
TEST(Utf8, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_lossy("abc"), "abc");
  EXPECT_EQ(utf8_lossy("a\xFF" "b"), "a" + R + "b");
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), R);                 // one subpart
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98" "a"), R + "a");
  EXPECT_EQ(utf8_lossy("\xE0\x80\x80"), R + R + R);         // E0 needs A0..BF next
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), R + R + R);         // surrogates: 3 subparts
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), R + R + R + R);
  EXPECT_EQ(utf8_lossy("\xC3\xA9\xC3"), "é" + R);
  EXPECT_EQ(utf8_lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");
}

TEST(Utf8, StepKinds) {
  EXPECT_EQ(utf8_step("\xE4\xB8").kind, Utf8Step::kTruncated);
  EXPECT_EQ(utf8_step("\xE4\xB8").length, 2);
  EXPECT_EQ(utf8_step("\xE4\xB8\xAD").kind, Utf8Step::kValid);
  EXPECT_EQ(utf8_step("\xE4\x41").kind, Utf8Step::kInvalid);
  EXPECT_EQ(utf8_step("\xE4\x41").length, 1);
}

TEST(Utf8, AppendEncodes) {
  std::string s;
  for (uint32_t cp : {0x24u, 0xA2u, 0x20ACu, 0x10348u}) utf8_append(cp, s);
  EXPECT_EQ(s, "$¢€𐍈");
}

TEST(ByteLevel, AlphabetRoundTrips) {
  EXPECT_EQ(byte_level_char(' '), "Ġ");
  EXPECT_EQ(byte_level_char('\n'), "Ċ");
  EXPECT_EQ(byte_level_char('A'), "A");
  EXPECT_EQ(byte_level_char(0xAD), "Ń");  // soft hyphen is not printable: remapped
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  const std::string encoded = byte_level_encode(all);
  EXPECT_EQ(byte_level_decode(encoded), all);
  EXPECT_EQ(byte_level_decode("ĠhelloĊ"), " hello\n");
  EXPECT_EQ(byte_level_decode("<｜User｜>"), std::nullopt);  // U+FF5C is not in the alphabet
}

}  // namespace
}  // namespace dsv3
