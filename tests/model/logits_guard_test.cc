#include "model/logits_guard.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace dsv3 {
namespace {

TEST(LogitsGuard, NamesTheFirstNonFiniteValueByRowAndTokenId) {
  std::vector<float> logits(3 * 5, 0.25f);
  EXPECT_TRUE(check_logits_finite(logits, 5, "the forward pass").ok());
  logits[2 * 5 + 3] = std::numeric_limits<float>::infinity();
  logits[2 * 5 + 4] = std::nanf("");
  Status s = check_logits_finite(logits, 5, "the forward pass");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("the forward pass produced a non-finite logit (inf at row 2, token id 3)"),
            std::string::npos)
      << s.error().message;
  logits[1] = -std::nanf("");
  s = check_logits_finite(logits, 5, "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("at row 0, token id 1"), std::string::npos) << s.error().message;
  EXPECT_TRUE(check_logits_finite({}, 5, "x").ok());
}

}  // namespace
}  // namespace dsv3
