// Stop strings in streamed text: a stop string may be split across tokens, so text that
// could still become one is held back until it is known not to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsv3 {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  struct Step {
    std::string emit;  // text that is safe to show now
    bool stopped = false;  // a stop string was found; `emit` ends just before it
  };
  // Feeds newly decoded text.
  Step feed(std::string_view text);
  // End of generation: whatever is held back.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace dsv3
