// UTF-8 scanning shared by the tokenizer: validation, lossy repair and the split point of a
// byte stream that may end inside a character (for streaming detokenization).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsv3 {

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// What the bytes at the front of a buffer hold.
struct Utf8Step {
  enum Kind : uint8_t {
    kValid,      // a complete, well-formed character of `length` bytes
    kInvalid,    // `length` bytes (the maximal subpart, at least 1) that no character starts with
    kTruncated,  // the buffer ends after `length` bytes that begin a well-formed character
  };
  Kind kind;
  uint8_t length;
};

// Classifies the bytes at the front of `bytes` (which must not be empty). Invalid sequences
// are measured as "maximal subparts" (Unicode 15, section 3.9, Table 3-7), the unit that
// Rust's String::from_utf8_lossy and WHATWG decoders replace by one U+FFFD each.
Utf8Step utf8_step(std::string_view bytes);

// Byte offset of the first byte that is not part of a well-formed character (a sequence cut
// off by the end of `bytes` counts as invalid), or nullopt if all of `bytes` is valid UTF-8.
std::optional<size_t> utf8_first_invalid(std::string_view bytes);

// `bytes` with every maximal invalid subpart (and a truncated tail) replaced by one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// Appends the UTF-8 encoding of code point `cp` (which must be a Unicode scalar value).
void utf8_append(uint32_t cp, std::string& out);

}  // namespace dsv3
