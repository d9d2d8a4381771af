#include "engine/reasoning.h"

#include <algorithm>

namespace dsv3 {

namespace {
constexpr std::string_view kOpen = "<think>", kClose = kReasoningEnd;

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}
}  // namespace

void ReasoningSplitter::push(std::vector<Segment>& out, std::string_view text) const {
  if (text.empty()) return;
  if (!out.empty() && out.back().reasoning == thinking_) {
    out.back().text += text;
  } else {
    out.push_back({thinking_, std::string(text)});
  }
}

std::vector<ReasoningSplitter::Segment> ReasoningSplitter::feed(std::string_view text) {
  pending_ += text;
  std::vector<Segment> out;
  for (;;) {
    const std::string_view tag = thinking_ ? kClose : kOpen;
    const size_t at = pending_.find(tag);
    if (at == std::string::npos) break;
    push(out, std::string_view(pending_).substr(0, at));
    pending_.erase(0, at + tag.size());
    thinking_ = !thinking_;
  }
  const size_t hold = partial_tag_suffix(pending_, thinking_ ? kClose : kOpen);
  push(out, std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::vector<ReasoningSplitter::Segment> ReasoningSplitter::flush() {
  std::vector<Segment> out;
  push(out, pending_);
  pending_.clear();
  return out;
}

bool prompt_opens_reasoning(std::string_view prompt) {
  const size_t open = prompt.rfind(kOpen);
  if (open == std::string_view::npos) return false;
  const size_t close = prompt.rfind(kClose);
  return close == std::string_view::npos || close < open;
}

}  // namespace dsv3
