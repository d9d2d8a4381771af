// How many tokens to draft per step when the depth adapts (`--adaptive-draft`): a deeper draft
// pays off only while the last draft position is usually accepted, and each extra draft costs
// an MTP pass and a verified token whether it is accepted or not. So the depth follows a
// running (exponential) average of how often each position's draft ends up kept (it and every
// draft before it accepted): one deeper when the deepest position is kept at least kDeepen of
// the time, one shallower below kShallow.
#pragma once

#include <vector>

namespace dsv3 {

class DraftDepth {
 public:
  static constexpr double kDeepen = 0.75;
  static constexpr double kShallow = 0.4;
  static constexpr double kAverageWeight = 0.1;  // weight of the newest step
  // Steps a new depth runs before it may change again, so its average means something.
  static constexpr int kSettleSteps = 8;

  // Fixed depth `max_depth` unless `adaptive`; adaptive starts at 1.
  DraftDepth(int max_depth, bool adaptive);

  int depth() const { return depth_; }
  // One verified step: of `drafted` drafts the first `accepted` were kept.
  void record(int drafted, int accepted);
  double acceptance(int position) const { return average_[position]; }

 private:
  int max_depth_;
  bool adaptive_;
  int depth_;
  int steps_at_depth_ = 0;
  std::vector<double> average_;  // per position, starts at an undecided 0.5
};

}  // namespace dsv3
