#include "engine/draft_depth.h"

#include <algorithm>

namespace dsv3 {

DraftDepth::DraftDepth(int max_depth, bool adaptive)
    : max_depth_(std::max(max_depth, 0)), adaptive_(adaptive),
      depth_(adaptive ? std::min(1, max_depth_) : max_depth_), average_(size_t(max_depth_), 0.5) {}

void DraftDepth::record(int drafted, int accepted) {
  // A draft after a rejected one was paid for and yields nothing: it counts as rejected.
  for (int j = 0; j < drafted && j < max_depth_; ++j) {
    const double outcome = j < accepted ? 1.0 : 0.0;
    average_[j] += kAverageWeight * (outcome - average_[j]);
  }
  if (!adaptive_ || ++steps_at_depth_ < kSettleSteps) return;
  const double deepest = average_[depth_ - 1];
  if (deepest >= kDeepen && depth_ < max_depth_) {
    ++depth_;
    average_[depth_ - 1] = 0.5;
    steps_at_depth_ = 0;
  } else if (deepest < kShallow && depth_ > 1) {
    --depth_;
    steps_at_depth_ = 0;
  }
}

}  // namespace dsv3
