#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "util/check.h"

namespace dsv3 {

void LiteralMatcher::add(std::string content, int32_t id) {
  DSV3_CHECK(!content.empty());
  const uint8_t first = uint8_t(content[0]);
  if (!is_first_byte_[first]) {
    is_first_byte_[first] = true;
    ++distinct_first_bytes_;
    only_first_byte_ = first;
  }
  uint32_t node = 0;
  for (char c : content) {
    const uint8_t b = uint8_t(c);
    uint32_t next = child(node, b);
    if (next == 0) {
      next = uint32_t(nodes_.size());
      nodes_.emplace_back();  // may reallocate: index nodes_ again below
      auto& kids = nodes_[node].children;
      const auto pos = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, 0u));
      kids.insert(pos, {b, next});
    }
    node = next;
  }
  nodes_[node].id = id;
}

uint32_t LiteralMatcher::child(uint32_t node, uint8_t b) const {
  const auto& kids = nodes_[node].children;
  const auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, 0u));
  return it != kids.end() && it->first == b ? it->second : 0;
}

bool LiteralMatcher::longest_at(std::string_view text, size_t start, Hit& hit) const {
  bool found = false;
  uint32_t node = 0;
  for (size_t i = start; i < text.size(); ++i) {
    node = child(node, uint8_t(text[i]));
    if (node == 0) break;
    if (nodes_[node].id >= 0) {
      hit = {start, i + 1 - start, nodes_[node].id};
      found = true;
    }
  }
  return found;
}

bool LiteralMatcher::find(std::string_view text, size_t from, Hit& hit) const {
  for (size_t i = from; i < text.size(); ++i) {
    // With one possible first byte (DeepSeek's tokens all start with '<'), memchr skips
    // the text between candidates much faster than a byte loop.
    if (distinct_first_bytes_ == 1) {
      const void* p = std::memchr(text.data() + i, only_first_byte_, text.size() - i);
      if (p == nullptr) return false;
      i = size_t(static_cast<const char*>(p) - text.data());
    }
    if (is_first_byte_[uint8_t(text[i])] && longest_at(text, i, hit)) return true;
  }
  return false;
}

void AddedTokens::add(const AddedToken& token) {
  (token.normalized ? normalized_ : raw_).add(token.content, token.id);
}

void AddedTokens::split_with(const LiteralMatcher& m, std::string_view text,
                             std::vector<TextSegment>& out) {
  size_t pos = 0;
  LiteralMatcher::Hit hit;
  while (!m.empty() && m.find(text, pos, hit)) {
    if (hit.start > pos) out.push_back({text.substr(pos, hit.start - pos), -1});
    out.push_back({text.substr(hit.start, hit.length), hit.id});
    pos = hit.start + hit.length;
  }
  if (pos < text.size()) out.push_back({text.substr(pos), -1});
}

void AddedTokens::split(std::string_view text, std::vector<TextSegment>& out) const {
  if (normalized_.empty()) {
    split_with(raw_, text, out);
    return;
  }
  std::vector<TextSegment> first;
  split_with(raw_, text, first);
  for (const TextSegment& s : first) {
    if (s.added_id >= 0) {
      out.push_back(s);
    } else {
      split_with(normalized_, s.text, out);
    }
  }
}

}  // namespace dsv3
