// Splits streamed model output into reasoning (between <think> and </think>, as DeepSeek-R1
// writes it) and the answer. Tags may be split across tokens, so a possible tag prefix is
// held back until it is known. Used by `dsv3 chat` (shows reasoning dimmed) and the server
// (returns it as reasoning_content).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsv3 {

class ReasoningSplitter {
 public:
  // `start_in_reasoning`: the prompt already opened <think> (R1's template does).
  explicit ReasoningSplitter(bool start_in_reasoning = false) : thinking_(start_in_reasoning) {}

  struct Segment {
    bool reasoning;
    std::string text;
  };
  std::vector<Segment> feed(std::string_view text);
  std::vector<Segment> flush();
  bool in_reasoning() const { return thinking_; }

 private:
  void push(std::vector<Segment>& out, std::string_view text) const;
  bool thinking_;
  std::string pending_;
};

// True when a rendered prompt ends inside an open <think> block.
bool prompt_opens_reasoning(std::string_view prompt);

// The tag that ends reasoning: where an output constraint starts to apply to the answer.
inline constexpr std::string_view kReasoningEnd = "</think>";

}  // namespace dsv3
