// Added tokens (special tokens and the like) are found in the raw text before
// pre-tokenization, leftmost-longest, and each becomes one id (HF tokenizers
// added_vocabulary.rs). Tokens with "normalized": false are matched first, then those with
// "normalized": true in the text between; without a normalizer both see the raw text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsv3 {

struct AddedToken {
  int32_t id;
  std::string content;
  bool special;     // dropped by decode(skip_special = true)
  bool normalized;  // matched in the second pass
};

// A run of the input: either plain text for the pre-tokenizer or one added token.
struct TextSegment {
  std::string_view text;
  int32_t added_id;  // -1 for plain text
};

// Leftmost-longest search for a fixed set of strings, with a byte trie so that a
// candidate start costs one walk however many strings share its first byte.
class LiteralMatcher {
 public:
  struct Hit {
    size_t start;
    size_t length;
    int32_t id;
  };

  void add(std::string content, int32_t id);
  // Earliest match at or after `from`; at that position, the longest. False if none.
  bool find(std::string_view text, size_t from, Hit& hit) const;
  bool empty() const { return nodes_.size() == 1; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> children;  // byte -> node index, sorted
    int32_t id = -1;                                     // a string ends here
  };
  // Node reached from `node` by byte `b`, or 0 (the root, never a child) if none.
  uint32_t child(uint32_t node, uint8_t b) const;
  // Id and length of the longest string that starts text[start..]; length 0 if none.
  bool longest_at(std::string_view text, size_t start, Hit& hit) const;

  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> is_first_byte_{};
  int distinct_first_bytes_ = 0;
  uint8_t only_first_byte_ = 0;  // valid when distinct_first_bytes_ == 1
};

class AddedTokens {
 public:
  void add(const AddedToken& token);
  // Appends the segments of `text` in order (plain segments are never empty).
  void split(std::string_view text, std::vector<TextSegment>& out) const;

 private:
  static void split_with(const LiteralMatcher& m, std::string_view text,
                         std::vector<TextSegment>& out);

  LiteralMatcher raw_;         // "normalized": false
  LiteralMatcher normalized_;  // "normalized": true
};

}  // namespace dsv3
