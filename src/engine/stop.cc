#include "engine/stop.h"

#include <algorithm>
#include <utility>

namespace dsv3 {

StopMatcher::Step StopMatcher::feed(std::string_view text) {
  pending_ += text;
  Step step;
  size_t first = std::string::npos;
  for (const auto& s : stops_) {
    if (s.empty()) continue;
    first = std::min(first, pending_.find(s));
  }
  if (first != std::string::npos) {
    step.emit = pending_.substr(0, first);
    step.stopped = true;
    pending_.clear();
    return step;
  }
  // Hold back the longest tail of pending_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t n = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  step.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return step;
}

std::string StopMatcher::flush() { return std::exchange(pending_, {}); }

}  // namespace dsv3
