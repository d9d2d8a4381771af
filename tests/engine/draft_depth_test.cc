// The adaptive draft depth: deeper while the deepest draft is mostly accepted, shallower when
// it is mostly rejected, never beyond [1, most]; a fixed depth never moves.
#include "engine/draft_depth.h"

#include <gtest/gtest.h>

namespace dsv3 {
namespace {

TEST(DraftDepth, FixedDepthNeverMoves) {
  DraftDepth d(3, /*adaptive=*/false);
  EXPECT_EQ(d.depth(), 3);
  for (int i = 0; i < 100; ++i) d.record(3, 0);
  EXPECT_EQ(d.depth(), 3);
  EXPECT_LT(d.acceptance(0), 0.01);
}

TEST(DraftDepth, GrowsWhileDraftsAreAcceptedUpToTheMost) {
  DraftDepth d(4, /*adaptive=*/true);
  EXPECT_EQ(d.depth(), 1);
  for (int i = 0; i < 200; ++i) d.record(d.depth(), d.depth());  // everything accepted
  EXPECT_EQ(d.depth(), 4);
  EXPECT_GT(d.acceptance(3), DraftDepth::kDeepen);
}

TEST(DraftDepth, ShrinksWhenTheDeepestDraftIsRejected) {
  DraftDepth d(4, /*adaptive=*/true);
  for (int i = 0; i < 200; ++i) d.record(d.depth(), d.depth());
  ASSERT_EQ(d.depth(), 4);
  // The first draft is always right, the later ones never: depth 1 is what pays.
  for (int i = 0; i < 300; ++i) d.record(d.depth(), 1);
  EXPECT_EQ(d.depth(), 1);
  // Middling acceptance of the first position keeps depth 1 (it never goes to 0).
  for (int i = 0; i < 200; ++i) d.record(d.depth(), i % 2);
  EXPECT_EQ(d.depth(), 1);
}

TEST(DraftDepth, DraftsAfterARejectionCountAsLost) {
  DraftDepth d(3, /*adaptive=*/false);
  d.record(3, 1);  // position 1 rejected: position 2 was drafted for nothing
  EXPECT_GT(d.acceptance(0), 0.5);
  EXPECT_LT(d.acceptance(1), 0.5);
  EXPECT_LT(d.acceptance(2), 0.5);
  d.record(2, 2);  // a shortened step (near the budget) says nothing of position 2
  EXPECT_GT(d.acceptance(1), d.acceptance(2));
}

}  // namespace
}  // namespace dsv3
